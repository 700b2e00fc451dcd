"""Reproducible spot-check samples, e.g. the county's 30% of tekun confirmations (T21 §16).

`draw` selects ceil(ratio * N) of the N open cases of a workflow in one state (optionally
one township): `random.Random(seed).sample` over the sorted case ids, so anyone can redraw
the same sample from the seed and the population. Each drawn case gets a `note` event in
its audit chain (sample_seed, sample_ratio, sample_size, population) and the case field
`sampled = true`, which the workflow's guards can read (tekun's `confirm` then needs
`spot_checked=true`). The ratio may not be below the policy minimum
`<workflow>_spot_check_min_ratio`. Drawing again with the same seed records nothing twice.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from aidflow.engine.access import Actor
from aidflow.errors import ForbiddenError, InvalidInputError, NotFoundError
from aidflow.i18n import _, pick
from aidflow.policy.standards import Policy
from aidflow.services.cases import Service
from aidflow.store import cases, events, workflows
from aidflow.store.events import EventInput


@dataclass(frozen=True)
class Sample:
    workflow: str
    state: str
    township: str | None
    seed: str
    ratio: Decimal
    population: tuple[int, ...]  # the open cases' ids, sorted
    drawn: tuple[int, ...]  # the selected ids, sorted
    recorded: tuple[int, ...]  # drawn cases noted now (the others carried this seed already)


def min_ratio_name(workflow: str) -> str:
    return f"{workflow}_spot_check_min_ratio"


def parse_ratio(text: str) -> Decimal:
    try:
        ratio = Decimal(text)
    except InvalidOperation:
        ratio = Decimal("NaN")
    if not ratio.is_finite() or not Decimal(0) < ratio <= Decimal(1):
        raise InvalidInputError(
            _("ratio {text!r} is not a number above 0 and at most 1", text=text),
            hint=_("write it like --ratio 0.3"),
        )
    return ratio


def draw(
    svc: Service,
    policy: Policy,
    actor: Actor,
    workflow: str,
    state: str,
    ratio: Decimal,
    seed: str,
    township: str | None = None,
) -> Sample:
    """Draw the sample and record it on each drawn case; see the module docstring."""
    if not seed.strip():
        raise InvalidInputError(
            _("the seed is empty"), hint=_("write --seed TEXT, e.g. 2023-08-county")
        )
    wf = workflows.definition_of(workflows.latest_version(svc.session, workflow))
    if state not in wf.states or wf.states[state].final:
        open_states = [n for n, s in wf.states.items() if not s.final]
        raise NotFoundError(
            _("workflow '{workflow}' has no open state '{state}'", workflow=workflow, state=state),
            hint=_("states: {states}", states=", ".join(open_states)),
        )
    owner = wf.states[state].owner
    if owner not in actor.roles:
        raise ForbiddenError(
            _(
                "drawing a sample of '{state}' needs role {role}; {user} has {has}",
                state=pick(state, wf.states[state].labels.zh),
                role=owner,
                user=actor.name,
                has=", ".join(actor.roles),
            )
        )
    if township is None and not actor.scope.is_county:
        raise ForbiddenError(
            _("{user}'s area ({area}) is not the county", user=actor.name, area=actor.area),
            hint=_("only county users draw the county's sample"),
        )
    if township is not None and not actor.covers(township, ""):
        raise ForbiddenError(
            _(
                "township {township} is outside {user}'s area ({area})",
                township=township,
                user=actor.name,
                area=actor.area,
            )
        )
    if min_ratio_name(workflow) not in policy.names():
        raise NotFoundError(
            _(
                "the policy has no {name}: no minimum spot-check ratio for {workflow}",
                name=min_ratio_name(workflow),
                workflow=workflow,
            ),
            hint=_("add the standard to workflows/policy/standards.yaml"),
        )
    minimum = policy.value(min_ratio_name(workflow), svc.local_today())
    if ratio < minimum:
        raise InvalidInputError(
            _(
                "ratio {ratio} is below the minimum {minimum} for {workflow} ({source})",
                ratio=ratio,
                minimum=minimum,
                workflow=workflow,
                source=policy.source(min_ratio_name(workflow)),
            ),
            hint=_("use --ratio {minimum} or more", minimum=minimum),
        )
    population = cases.open_case_ids(svc.session, workflow, state, township)
    size = math.ceil(ratio * len(population))
    drawn = tuple(sorted(random.Random(seed).sample(population, size)))
    now = svc.clock.now()
    recorded = []
    fields = {
        "sample_seed": seed,
        "sample_ratio": str(ratio),
        "sample_size": size,
        "population": len(population),
    }
    for case_id in drawn:
        case = cases.get_case(svc.session, case_id)
        if case.data.get("sampled_by_seed") == seed:
            continue  # drawn with this seed before: nothing twice
        events.write_event(
            svc.session,
            case_id,
            case.last_seq,
            case.head_hash,
            EventInput(
                kind="note",
                actor=actor.name,
                entered_by=actor.entered_by,
                at=now,
                fields=dict(fields, sampled=True),
                note=_(
                    "drawn for the spot-check ({size} of {population}, seed {seed})",
                    size=size,
                    population=len(population),
                    seed=seed,
                ),
            ),
            None,
            case.version,
        )
        # the data field, not a state change: entry time, deadline and vote round stay as they are
        cases.set_case_data(
            svc.session, case_id, dict(case.data, sampled=True, sampled_by_seed=seed)
        )
        recorded.append(case_id)
    return Sample(workflow, state, township, seed, ratio, population, drawn, tuple(recorded))
