"""The README's architecture section names every package of src/aidflow and the layer order
that pyproject.toml's import contract enforces, so the drawing cannot drift from the code."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "aidflow"


def _section() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index("## Architecture")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_every_package_is_described() -> None:
    section = _section()
    packages = sorted(
        p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file() and p.name != "shipped"
    )
    assert packages, "no packages found"
    missing = [name for name in packages if f"`{name}/`" not in section]
    assert missing == [], f"README architecture section does not describe: {missing}"


def test_the_drawing_follows_the_layer_contract() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    layers = next(c["layers"] for c in contracts if c["type"] == "layers")
    drawing = _section().split("```text", 1)[1].split("```", 1)[0]
    positions = []
    for layer in layers:
        first = layer.replace("|", " ").replace(":", " ").split()[0]
        name = first.removeprefix("aidflow.")
        assert name in drawing, f"layer {name} is not in the README's drawing"
        positions.append(drawing.index(name))
    assert positions == sorted(positions), "the drawing lists the layers in another order"
