"""The deployed version is the only version (issue 14).

A workflow file may leave `version:` out; when it writes one, deploy refuses it unless it is
the number this deploy gives the file, and every output names the deployed number.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .conftest import PERSON_ID, REPO, Cli
from .test_cli import bootstrap_cli, fails, ok, setup_county

SHIPPED = REPO / "src" / "aidflow" / "shipped" / "workflows"
DIBAO = (SHIPPED / "dibao.yaml").read_text(encoding="utf-8")


def edited(tmp_path: Path, text: str) -> Path:
    """`text` as dibao.yaml in a directory with the shipped policy beside it."""
    directory = tmp_path / "edited"
    if not directory.exists():
        shutil.copytree(SHIPPED / "policy", directory / "policy")
    path = directory / "dibao.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def changed(version_line: str) -> str:
    """dibao.yaml with a longer first deadline (a real change) and `version_line`."""
    assert DIBAO.count("version: 1\n") == 1
    text = DIBAO.replace("version: 1\n", version_line, 1)
    return text.replace("    deadline: 3wd\n", "    deadline: 4wd\n", 1)


def versions(run_cli: Cli) -> list[tuple[str, int]]:
    rows = json.loads(ok(run_cli("workflow", "list", "--json")))
    return [(r["name"], r["version"]) for r in rows if r["name"] == "dibao"]


def test_a_version_key_that_deploy_would_not_assign_is_refused(
    run_cli: Cli, tmp_path: Path
) -> None:
    bootstrap_cli(run_cli)  # the shipped dibao.yaml, `version: 1`, is version 1
    path = edited(tmp_path, changed("version: 1\n"))
    fails(
        run_cli("workflow", "deploy", str(path), user="admin"),
        3,
        "error: 1 problem found:\n"
        f"{path}:5:10: version: 1, but this deploy would make version 2; "
        "write `version: 2` (or leave `version:` out)\n",
    )
    assert versions(run_cli) == [("dibao", 1)]  # nothing deployed

    path = edited(tmp_path, changed("version: 2\n"))
    assert ok(run_cli("workflow", "deploy", str(path), user="admin")).startswith(
        "dibao version 2: deployed ("
    )
    # the same file again is unchanged: it keeps the version it was given
    assert ok(run_cli("workflow", "deploy", str(path), user="admin")).startswith(
        "dibao version 2: unchanged ("
    )
    assert versions(run_cli) == [("dibao", 1), ("dibao", 2)]


def test_version_may_be_left_out_and_outputs_name_the_deployed_version(
    run_cli: Cli, tmp_path: Path
) -> None:
    setup_county(run_cli)
    path = edited(tmp_path, changed(""))
    assert ok(run_cli("workflow", "deploy", str(path), user="admin")).startswith(
        "dibao version 2: deployed ("
    )
    assert versions(run_cli) == [("dibao", 1), ("dibao", 2)]
    diagram = ok(run_cli("workflow", "diagram", "dibao"))
    assert diagram.splitlines()[1].startswith("  %% dibao (version 2): ")
    assert (
        ok(run_cli("workflow", "diagram", "dibao", "--version", "1"))
        .splitlines()[1]
        .startswith("  %% dibao (version 1): ")
    )
    shown = ok(run_cli("workflow", "show", "dibao"))
    assert shown.startswith("dibao v2 (")
    as_json = json.loads(ok(run_cli("workflow", "show", "dibao", "--json")))
    assert (as_json["version"], as_json["definition"]["version"]) == (2, 2)
    ok(run_cli("case", "open", PERSON_ID, "--workflow", "dibao", user="li"))
    assert "(dibao v2)" in ok(run_cli("case", "show", "1", user="li")).splitlines()[0]
    listed = ok(run_cli("workflow", "list"))
    assert [line.split()[1] for line in listed.splitlines() if line.startswith("dibao ")] == [
        "v1",
        "v2",
    ]


def test_shipped_workflows_declare_the_version_a_fresh_database_gives_them() -> None:
    for path in sorted(SHIPPED.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        assert "\nversion: 1\n" in text, path.name
