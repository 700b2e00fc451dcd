"""`aidflow sample draw`: the county's reproducible spot-check sample (T21 §16)."""

from __future__ import annotations

import click

from aidflow.cli.app import App, emit_json, pass_app
from aidflow.i18n import _


@click.group("sample")
def sample_group() -> None:
    """Spot-check samples drawn reproducibly from a seed and recorded on each case."""


@sample_group.command("draw")
@click.option("--workflow", "-w", required=True, help="Workflow name, e.g. tekun.")
@click.option("--state", required=True, help="The state whose open cases form the population.")
@click.option(
    "--ratio", required=True, help="Share to draw, at least the policy minimum (0.30 for tekun)."
)
@click.option(
    "--seed", required=True, help="Any text; the same seed and cases give the same sample."
)
@click.option("--township", help="Draw among one township's cases only.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def sample_draw(
    app: App, workflow: str, state: str, ratio: str, seed: str, township: str | None, as_json: bool
) -> None:
    """Draw ceil(ratio x N) of the N open cases in STATE and record the draw on each
    (county roles only).

    Drawing again with the same seed records nothing twice.
    """
    sample = app.call(
        "sample.draw",
        workflow=workflow,
        state=state,
        ratio=ratio,
        seed=seed,
        township=township,
    )
    if as_json:
        emit_json(sample)
        return
    where = _(" in {township}", township=sample["township"]) if sample["township"] else ""
    ids = ", ".join(str(i) for i in sample["drawn"]) or _("none")
    click.echo(
        _(
            "drew {drawn} of {population} {workflow} case(s) in {state}{where} "
            "(ratio {ratio}, seed {seed!r}): {ids}",
            drawn=len(sample["drawn"]),
            population=sample["population"],
            workflow=workflow,
            state=state,
            where=where,
            ratio=sample["ratio"],
            seed=seed,
            ids=ids,
        )
    )
    again = len(sample["drawn"]) - len(sample["recorded"])
    click.echo(
        _("recorded on {n} case(s)", n=len(sample["recorded"]))
        + (_("; {again} already drawn with this seed", again=again) if again else "")
    )
