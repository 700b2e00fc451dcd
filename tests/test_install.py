"""aidflow installed as a user installs it, used away from the checkout.

`pip wheel .` builds the wheel; a fresh virtual environment (no system site-packages, so
nothing leaks in from the environment running the tests) installs it with its dependencies
from the index pip is configured with; then, in an empty directory outside the checkout,
`aidflow demo` runs and `aidflow init county` makes a county directory whose copied files
`aidflow --config county/aidflow.toml workflow validate` checks. This is what shows that
the workflows, policy files and templates travel inside the package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def run(argv: list[str | Path], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"{argv} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The bin/ directory of a fresh venv with the wheel installed, and an environment
    without the test run's AIDFLOW_* variables or Python paths."""
    root = tmp_path_factory.mktemp("install")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIDFLOW_", "PYTHON", "VIRTUAL_ENV"))
    }
    # build from a copy of the sources: a build/ directory left in the checkout by an
    # earlier build could otherwise put files into the wheel that the sources no longer have
    source = root / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(REPO / "src", source / "src", ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    wheels = root / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    run([*pip, "wheel", ".", "--no-deps", "-q", "-w", wheels], source, env)
    (wheel,) = wheels.glob("aidflow-*.whl")
    venv = root / "venv"
    run([sys.executable, "-m", "venv", venv], root, env)
    bin_dir = venv / "bin"
    run([bin_dir / "python", "-m", "pip", "install", "-q", wheel], root, env)
    return bin_dir, env


def test_the_wheel_works_outside_the_checkout(
    installed: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    bin_dir, env = installed
    where = run(
        [bin_dir / "python", "-c", "import aidflow; print(aidflow.__file__)"], tmp_path, env
    )
    assert Path(where.stdout.strip()).is_relative_to(bin_dir.parent), where.stdout
    assert not tmp_path.is_relative_to(REPO)

    demo = run([bin_dir / "aidflow", "demo"], tmp_path, env)
    assert "audit ok" in demo.stdout
    assert "refused as expected" in demo.stdout
    # the web pages' templates and stylesheet and the notice's template ship in the wheel
    files = (
        "import aidflow.policy.county as c; "
        "print(*(p.name for name in ('web', 'reports') for p in c.shipped(name).rglob('*.*')))"
    )
    listed = run([bin_dir / "python", "-c", files], tmp_path, env).stdout.split()
    assert {"base.html", "dashboard.html", "case.html", "aidflow.css", "notice.html"} <= set(listed)

    init = run([bin_dir / "aidflow", "init", "county"], tmp_path, env)
    assert init.stdout.endswith(
        "next: aidflow --config county/aidflow.toml workflow validate\n"
        "then: aidflow --config county/aidflow.toml db upgrade "
        "(add --training for a training database, where writes may take --now)\n"
    )
    assert (tmp_path / "county" / "workflows" / "policy" / "notice.yaml").is_file()
    assert sorted(p.name for p in (tmp_path / "county" / "workflows").glob("*.yaml")) == [
        "dibao.yaml",
        "tekun.yaml",
        "temporary_assistance.yaml",
    ]
    config = ["--config", "county/aidflow.toml"]
    valid = run([bin_dir / "aidflow", *config, "workflow", "validate"], tmp_path, env)
    assert valid.stdout == "3 file(s) valid\n"
    checked = run([bin_dir / "aidflow", *config, "notify", "check"], tmp_path, env)
    assert checked.stdout == f"templates ok: {(tmp_path / 'county' / 'notifications').resolve()}\n"

    # the county's copy is what it validated: a mistake in it is reported there
    dibao = tmp_path / "county" / "workflows" / "dibao.yaml"
    dibao.write_text(
        dibao.read_text(encoding="utf-8").replace("initial: true", "initial: maybe", 1),
        encoding="utf-8",
    )
    broken = subprocess.run(
        [bin_dir / "aidflow", *config, "workflow", "validate"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert broken.returncode == 3
    assert f"{dibao.resolve()}:" in broken.stdout
