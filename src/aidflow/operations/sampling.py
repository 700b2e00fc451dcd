"""Sampling operations: the county's reproducible spot-check sample (`aidflow sample draw`)."""

from __future__ import annotations

from typing import Any

from aidflow.operations import Caller, operation
from aidflow.services.cases import Service
from aidflow.services.runtime import Runtime


@operation("sample.draw", write=True, runtime=True)
def draw(
    svc: Service,
    caller: Caller,
    rt: Runtime,
    workflow: str,
    state: str,
    ratio: str,
    seed: str,
    township: str | None = None,
) -> dict[str, Any]:
    """Draw ceil(ratio x N) of the N open cases in `state` and record the draw on each
    (county roles only). `ratio` is a decimal written as text (0.3), never a float."""
    from aidflow.services.sampling import draw as draw_sample
    from aidflow.services.sampling import parse_ratio

    share = parse_ratio(ratio)
    policy = rt.load_standards()
    sample = draw_sample(
        svc, policy, svc.actor(caller.user), workflow, state, share, seed, township
    )
    return {
        "workflow": sample.workflow,
        "state": sample.state,
        "township": sample.township,
        "seed": sample.seed,
        "ratio": str(sample.ratio),
        "population": len(sample.population),
        "drawn": list(sample.drawn),
        "recorded": list(sample.recorded),
    }
