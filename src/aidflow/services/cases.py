"""Use cases on cases: register persons, open cases, fire, vote, object, note, view, list.

No printing, no committing: the CLI (or a job) opens a transaction around a call, so a
refused command leaves the database exactly as it was. Users and deployments are in
aidflow.services.users, idempotency keys in aidflow.services.idempotency.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aidflow.clock import Clock
from aidflow.engine import machine, rules
from aidflow.engine.access import SYSTEM, Actor, require_area, require_role
from aidflow.engine.deadlines import Due, counts_working_days, describe
from aidflow.engine.rules import Snapshot
from aidflow.errors import (
    ConflictError,
    DuplicateError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    RefusedError,
    did_you_mean,
)
from aidflow.i18n import _, ngettext, pick
from aidflow.language.calendar import WorkCalendar, parse_duration
from aidflow.language.definition import PERSON_COLUMNS, Transition, Workflow
from aidflow.language.textlimits import check_text
from aidflow.services import users
from aidflow.services.idempotency import replayed
from aidflow.store import audit, cases, events, persons, votes, workflows
from aidflow.store import users as user_store
from aidflow.store.audit import Finding
from aidflow.store.events import EventInput, Move
from aidflow.store.records import (
    CaseRecord,
    EventRecord,
    PersonRecord,
    Recorded,
    UserRecord,
    VersionRecord,
)
from aidflow.store.session import Session

if TYPE_CHECKING:
    from aidflow.language.loader import LoadedWorkflow
    from aidflow.policy.standards import Policy

_MISSING = object()
VOTE_CHOICES = ("yes", "no", "abstain")
HUKOU_LABELS = {"农村": "rural", "农业": "rural", "城镇": "urban", "非农业": "urban"}
# the disability types in the words of the disability certificate (as the survey import reads
# them, policy/import_mappings.yaml), so `person add --disability-type 肢体` is taken too
DISABILITY_TYPE_LABELS = {
    "肢体": "physical",
    "视力": "visual",
    "听力": "hearing",
    "言语": "speech",
    "智力": "intellectual",
    "精神": "mental",
    "多重": "multiple",
}
VOTE_LABELS = {"赞成": "yes", "同意": "yes", "反对": "no", "不同意": "no", "弃权": "abstain"}


PERSON_MATCHES = 20  # persons of one name listed when a name is ambiguous


def _by_label(wf: Workflow, state: str, label: str) -> Transition | None:
    """The transition out of `state` whose Chinese or English label is `label` (受理), or
    else the only one whose Chinese label holds the characters of `label` in order (开始调查
    for 开始入户调查)."""
    text = label.strip()
    here = wf.transitions_from(state)
    exact = next(
        (t for t in here if t.labels is not None and text in (t.labels.zh, t.labels.en)),
        None,
    )
    if exact is not None or len(text) < 2 or text.isascii():
        return exact
    short = [t for t in here if t.labels is not None and _abbreviates(text, t.labels.zh)]
    return short[0] if len(short) == 1 else None


def _abbreviates(text: str, label: str) -> bool:
    """Whether `label` holds every character of `text`, in order (an abbreviation)."""
    rest = iter(label)
    return all(ch in rest for ch in text)


def _labelled(wf: Workflow, label: str) -> Transition | None:
    """Any transition of `wf` whose Chinese or English label is `label`."""
    text = label.strip()
    return next(
        (t for t in wf.transitions if t.labels is not None and text in (t.labels.zh, t.labels.en)),
        None,
    )


def state_shown(wf: Workflow, state: str | None) -> str:
    """A state as a person reads it: its Chinese label in Chinese, else its name."""
    st = wf.states.get(state or "")
    return pick(state or "", st.labels.zh) if st is not None else state or ""


def trigger_shown(wf: Workflow, trigger: str) -> str:
    """A trigger as a person reads it: its Chinese label in Chinese, else its name."""
    t = next((x for x in wf.transitions if x.trigger == trigger), None)
    return pick(trigger, t.labels.zh) if t is not None and t.labels is not None else trigger


def field_shown(wf: Workflow, name: str) -> str:
    """A field as a person reads it: its Chinese label in Chinese, else its name."""
    fs = wf.fields.get(name)
    return pick(name, fs.labels.zh) if fs is not None and fs.labels is not None else name


def role_shown(wf: Workflow, role: str) -> str:
    """A role as a person reads it: its Chinese label in Chinese, else its name."""
    labels = wf.roles.get(role)
    return pick(role, labels.zh) if labels is not None else role


def listed(items: list[str]) -> str:
    """Items joined as the language joins them (a, b / 甲、乙)."""
    return pick(", ", "、").join(items)


def value_shown(wf: Workflow, name: str, value: Any, names: dict[str, str] | None = None) -> str:
    """A field's value as a person reads it: yes/no (是/否) for a truth value, a choice's
    label, a list joined (甲、乙), a user by display name (`names`), a vote's tally in
    words; as stored in English, where the code is the word."""
    from aidflow.i18n import language

    if language() != "zh":
        return str(value)
    names = names or {}
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, list):
        return listed([value_shown(wf, name, v, names) for v in value])
    if isinstance(value, dict) and {"yes", "no", "abstain"} <= set(value):
        text = tally_shown(value["yes"], value["no"], value["abstain"])
        dissent = [names.get(v, v) for v in value.get("dissent") or []]
        if dissent:
            text += _("; dissent: {names}", names=listed(dissent))
        return text
    if isinstance(value, dict):
        return listed([f"{k}：{value_shown(wf, name, v, names)}" for k, v in value.items()])
    fs = wf.fields.get(name)
    if fs is not None and isinstance(value, str) and value in fs.choice_labels:
        return fs.choice_labels[value].zh
    if isinstance(value, str) and value in names:
        return names[value]
    return "-" if value is None else str(value)


def tally_shown(yes: int, no: int, abstain: int) -> str:
    """A vote's tally in words: `5 yes, 1 no, 0 abstain` (赞成 5 票、反对 1 票、弃权 0 票)."""
    return _("{yes} yes, {no} no, {abstain} abstain", yes=yes, no=no, abstain=abstain)


def duration_shown(duration: str) -> str:
    """A duration of a workflow (30d, 20wd, 12mo) in the reader's words."""
    from aidflow.i18n import language

    if language() != "zh":
        return duration
    spec = parse_duration(duration)
    unit = {"h": "{n} 小时", "d": "{n} 天", "wd": "{n} 个工作日", "mo": "{n} 个月"}.get(spec.unit)
    return unit.format(n=spec.amount) if unit else duration


def check_note(note: str | None) -> None:
    """A note within the limits of language.textlimits (exit 3 otherwise)."""
    if note is not None:
        check_text(note, _("note"))


@dataclass
class Action:
    transition: Transition
    reasons: list[str]
    # for a routed transition: the destination the case's current data leads to, and the
    # condition that chose it (None: the last route, taken when no condition holds)
    route: tuple[str, str | None] | None = None

    @property
    def allowed(self) -> bool:
        return not self.reasons


@dataclass
class CaseView:
    """What `aidflow case show` prints: the case, its person, workflow version and events."""

    case: CaseRecord
    person: PersonRecord
    workflow: Workflow
    version: VersionRecord
    events: list[EventRecord]
    actions: list[Action]
    tally: rules.Tally | None
    dwell_until: datetime | None


@dataclass(frozen=True)
class Listed:
    """One line of `aidflow case list`: a case and its person."""

    case: CaseRecord
    person: PersonRecord


class Service:
    """The engine's use cases over one Session, one clock and one working-day calendar."""

    def __init__(
        self,
        session: Session,
        clock: Clock,
        calendar: WorkCalendar,
        policy: Policy | Callable[[], Policy] | None = None,
        entered_by: str | None = None,
    ) -> None:
        self.session = session
        # the administrator entering this unit of work for its actors (local mode, --as)
        self.entered_by = entered_by
        self.clock = clock
        self.calendar = calendar
        # the county's standards for guards reading policy.<name>; a callable loads them when used
        self._policy = policy
        # per unit of work: a batch of commands reads each user and definition once
        self._actors: dict[str, Actor] = {}
        self._workflows: dict[int, Workflow] = {}

    # -- administration (aidflow.services.users, over this unit of work) ------------------

    def require_admin(self, actor_name: str | None) -> str:
        return users.require_admin(self.session, actor_name)

    def add_user(
        self,
        by: str | None,
        name: str,
        roles: list[str],
        area: str,
        email: str,
        *,
        os_login: str | None = None,
        password: str | None = None,
        display_name: str | None = None,
    ) -> UserRecord:
        return users.add_user(
            self.session,
            self.clock.now(),
            by,
            name,
            roles,
            area,
            email,
            os_login=os_login,
            password=password,
            display_name=display_name,
        )

    def deploy(self, by: str | None, loaded: LoadedWorkflow) -> tuple[VersionRecord, bool]:
        return users.deploy(self.session, self.clock.now(), by, loaded)

    # -- persons -------------------------------------------------------------------------

    def register_person(
        self,
        id_number: str,
        name: str,
        township: str,
        village: str,
        hukou: str,
        *,
        by: str = "system",
        **attrs: Any,
    ) -> PersonRecord:
        """Register a person by resident ID number (checked; birth date and sex derived).

        `by` is the acting user the audit log names; `attrs` are further person columns
        (disability_grade, related_users, ...)."""
        from aidflow.idnumber import parse_id_number

        idn = parse_id_number(id_number, today=self.local_today())
        if persons.find_person(self.session, idn.number) is not None:
            raise InvalidInputError(
                _("a person with ID number {id} is already registered", id=idn.masked),
                hint=_("open a case for the existing person"),
            )
        hukou = HUKOU_LABELS.get(hukou.strip(), hukou)
        if hukou not in ("rural", "urban"):
            raise InvalidInputError(
                _("hukou must be rural or urban (农村 or 城镇), not {hukou}", hukou=repr(hukou))
            )
        if not name.strip() or not township.strip() or not village.strip():
            raise InvalidInputError(_("name, township and village must not be empty"))
        for label, value in ((_("name"), name), (_("township"), township), (_("village"), village)):
            # 100: the column's width
            check_text(value.strip(), label, limit=100, multiline=False)
        kind = attrs.get("disability_type")
        if isinstance(kind, str):
            attrs["disability_type"] = DISABILITY_TYPE_LABELS.get(kind.strip(), kind.strip())
        grade = attrs.get("disability_grade")
        if grade is not None and grade not in (1, 2, 3, 4):
            raise InvalidInputError(_("disability grade must be 1 to 4, not {grade}", grade=grade))
        values: dict[str, Any] = {
            "mental_illness": False,
            "registered_poor": False,
            "related_users": [],
            **attrs,
        }
        return persons.add_person(
            self.session,
            by,
            id_number=idn.number,
            name=name.strip(),
            birth_date=idn.birth_date,
            sex=idn.sex,
            township=township.strip(),
            village=village.strip(),
            hukou=hukou,
            created_at=self.clock.now(),
            **values,
        )

    def add_person(
        self,
        actor: Actor,
        id_number: str,
        name: str,
        township: str,
        village: str,
        hukou: str,
        *,
        related_users: tuple[str, ...] = (),
        **attrs: Any,
    ) -> PersonRecord:
        """`aidflow person add`: register a person in the actor's area; `related_users`
        (excluded from votes on the person's cases) must be known users."""
        require_area(
            actor,
            township.strip(),
            village.strip(),
            f"{township}/{village}",
            say_where=False,
            hint=_("a user of that township or the county registers this person"),
        )
        for user in related_users:
            user_store.get_user(self.session, user)
        return self.register_person(
            id_number,
            name,
            township,
            village,
            hukou,
            by=actor.name,
            related_users=sorted(set(related_users)),
            **attrs,
        )

    def person(self, id_number: str) -> PersonRecord:
        from aidflow.idnumber import parse_id_number

        idn = parse_id_number(id_number)
        person = persons.find_person(self.session, idn.number)
        if person is None:
            raise NotFoundError(
                _("no person with ID number {id}", id=idn.masked),
                hint=_("register them with `aidflow person add`"),
            )
        return person

    def person_for(self, actor: Actor, text: str) -> PersonRecord:
        """The person `text` names: an ID number, or else a name registered in the actor's area.

        Several persons of that name is invalid input listing them (masked ID, birth date,
        village), so the caller can repeat the command with the right ID number.
        """
        from aidflow.idnumber import looks_like_id_number, mask

        if looks_like_id_number(text):
            return self.person(text)
        name = text.strip()
        found = persons.persons_named(self.session, name, actor.scope, PERSON_MATCHES + 1)
        if not found:
            raise NotFoundError(
                _(
                    "no person named {name} in {user}'s area ({area}), and it is not an ID number",
                    name=repr(name),
                    user=actor.name,
                    area=actor.area,
                ),
                hint=_(
                    "check the name, give the ID number, or register them with `aidflow person add`"
                ),
            )
        if len(found) == 1:
            return found[0]
        lines = "\n".join(
            "  "
            + _(
                "{id}  {name}  born {born}  {area}",
                id=mask(p.id_number),
                name=p.name,
                born=p.birth_date,
                area=p.township + "/" + p.village,
            )
            for p in found[:PERSON_MATCHES]
        )
        if len(found) > PERSON_MATCHES:
            head = _(
                "more than {n} persons named {name} in {area}:",
                n=PERSON_MATCHES,
                name=repr(name),
                area=actor.area,
            )
            lines += "\n  " + _("... and more")
        else:
            head = ngettext(
                "{n} person named {name} in {area}:",
                "{n} persons named {name} in {area}:",
                len(found),
                name=repr(name),
                area=actor.area,
            )
        raise InvalidInputError(
            f"{head}\n{lines}",
            hint=_("give the person's ID number instead of the name"),
        )

    # -- cases ---------------------------------------------------------------------------

    def actor(self, name: str | None) -> Actor:
        if not name:
            raise ForbiddenError(
                _("no acting user"),
                hint=_("the database has no users yet: add the first with `aidflow user add`"),
            )
        if name == SYSTEM.name:
            raise ForbiddenError(_("'system' is reserved for the scheduler"))
        actor = self._actors.get(name)
        if actor is None:
            user = user_store.get_user(self.session, name)
            if user.disabled:
                raise ForbiddenError(
                    _("user {name} is disabled", name=name),
                    hint=_("ask an administrator to `aidflow user enable {name}`", name=name),
                )
            entered_by = self.entered_by if self.entered_by != name else None
            actor = Actor(name, tuple(user.roles), user.area, entered_by)
            self._actors[name] = actor
        return actor

    def open_case(
        self,
        actor: Actor,
        id_number: str,
        workflow: str,
        *,
        emergency: bool = False,
        assign_to: str | None = None,
        note: str | None = None,
        command_id: str | None = None,
    ) -> CaseRecord:
        """Open a case for the person `id_number` names (an ID number, or a name in the
        actor's area: `person_for`)."""
        check_note(note)
        person = self.person_for(actor, id_number)
        earlier = replayed(
            self.session, actor, command_id, "open", None, None, (person.id, workflow)
        )
        if earlier is not None:
            return cases.get_case(self.session, earlier.case_id)
        wv = workflows.latest_version(self.session, workflow)
        wf = workflows.definition_of(wv)
        initial = wf.states[wf.initial_state]
        if actor is not SYSTEM:
            # the loader refuses a non-final state without an owner, and initial is not final
            assert initial.owner is not None
            require_role(
                actor,
                [initial.owner],
                _("opening a {workflow} case", workflow=pick(wf.name, wf.labels.zh)),
            )
            require_area(
                actor,
                person.township,
                person.village,
                f"{person.township}/{person.village}",
                say_where=False,
            )
        if assign_to is not None:
            user_store.get_user(self.session, assign_to)
        policy = self.standards()
        if policy is not None:
            from aidflow.services import households

            households.check_exclusive(
                self.session, policy, wf.name, person.id, None, approving=False
            )
        now = self.clock.now()
        clocks_now: dict[str, Any] = {}
        if wf.clocks:
            from aidflow.engine import clocks

            clocks_now = clocks.start(wf, wf.initial_state, now, self.calendar)
        self._workflows[wv.id] = wf
        return cases.insert_case(
            self.session,
            EventInput(
                kind="open",
                actor=actor.name,
                entered_by=actor.entered_by,
                at=now,
                to_state=wf.initial_state,
                fields={"workflow": wf.name, "version": wv.version, "emergency": emergency},
                note=note,
            ),
            command_id,
            person_id=person.id,
            workflow_version_id=wv.id,
            workflow_name=wf.name,
            state=wf.initial_state,
            state_entered_at=now,
            deadline_at=self.deadline_for(wf, wf.initial_state, now),
            assigned_to=assign_to or (None if actor is SYSTEM else actor.name),
            township=person.township,
            village=person.village,
            data={},
            clocks=clocks_now,
            emergency=emergency,
            opened_at=now,
        )

    def deadline_for(
        self, wf: Workflow, state: str, entered: datetime, data: dict[str, Any] | None = None
    ) -> datetime | None:
        """When the case must leave `state` entered at `entered`; a state's `deadline_when`
        picks the first alternative whose `when` is true of the case's data on entry."""
        st = wf.states[state]
        spec = st.deadline
        if st.deadline_when:
            from aidflow.language.expressions import compile_expression

            case_scope = {
                name: rules.field_for_guard(fs, (data or {}).get(name))
                for name, fs in wf.fields.items()
            }
            for alt in st.deadline_when:
                if compile_expression(alt.when, namespaces=("case",)).evaluate(
                    {"case": case_scope}
                ):
                    spec = alt.deadline
                    break
        return self.calendar.add(entered, parse_duration(spec)) if spec else None

    def snapshot(
        self,
        case: CaseRecord,
        wf: Workflow | None = None,
        transitions: list[Transition] | None = None,
    ) -> Snapshot:
        """What the rules need about `case` for `transitions`.

        Only what those transitions read is loaded: the person when a guard reads
        person.*, earlier actors when a rule separates duties, votes in a voting state.
        """
        wf = wf or self.workflow_of(case)
        st = wf.states[case.state]
        ts = wf.transitions_from(case.state) if transitions is None else transitions
        dwell_until = (
            self.calendar.add(case.state_entered_at, parse_duration(st.min_dwell))
            if st.min_dwell
            else None
        )
        needs = rules.reads(ts)
        tally = None
        if st.vote is not None:
            tally = rules.tally(st.vote, votes.votes_of(self.session, case.id, case.entry_seq))
        case_scope: dict[str, Any] = {}
        if needs.case:  # only guards and computes read it
            data = case.data
            case_scope = {
                name: rules.field_for_guard(spec, data.get(name))
                for name, spec in wf.fields.items()
            }
            case_scope.update(
                emergency=case.emergency,
                township=case.township,
                village=case.village,
                state=case.state,
                opened_at=case.opened_at.isoformat(),
            )
        person_scope = (
            self.person_scope(case.person_id, roles=needs.related_roles) if needs.person else {}
        )
        household_scope: dict[str, Any] = {}
        household_problem = None
        if needs.household:
            household_scope, household_problem = self.household_figures(case, wf)
        return Snapshot(
            wf,
            case.state,
            case.township,
            case.village,
            case.state_entered_at,
            dwell_until,
            person_scope,
            case_scope,
            events.fired_by(self.session, case.id, needs.separate),
            tally,
            self.calendar.tz,
            self.policy_scope(set(needs.policy)),
            household_scope,
            household_problem,
        )

    def standards(self) -> Policy | None:
        """The county's standards, loaded on first use (None: a Service without them)."""
        if callable(self._policy):
            self._policy = self._policy()
        return self._policy

    def household_figures(
        self, case: CaseRecord, wf: Workflow
    ) -> tuple[dict[str, Any], str | None]:
        """household.* for the case (services.households.figures), or why it cannot be had."""
        from aidflow.services import households

        policy = self.standards()
        if policy is None:
            return {}, _("household.* needs the policy standards, and none are loaded")
        return households.figures(self.session, policy, wf.name, case, self.local_today())

    def _programme_rules(
        self,
        case: CaseRecord,
        wf: Workflow,
        t: Transition,
        dest: str,
        fields: dict[str, Any],
        household: dict[str, Any],
    ) -> None:
        """The policy's rules on amounts and programmes, checked whatever the workflow says:
        every bounded amount set is positive and within the ceiling; a case entering a paid
        state from an unpaid one is approved only if no exclusivity rule forbids it."""
        policy = self.standards()
        if policy is None:
            return  # a Service without standards: the engine's own tests
        from aidflow.policy.households import out_of_bounds

        today = self.local_today()
        rule = policy.amount_rule(wf.name)
        for name in rule.bounded if rule is not None else ():
            if fields.get(name) is None:
                continue
            figures = household if name in t.computes else None
            why = out_of_bounds(policy, rule, name, Decimal(fields[name]), today, figures)  # type: ignore[arg-type]
            if why is not None:
                raise RefusedError(
                    _(
                        "cannot {trigger} case {case}: {why}",
                        trigger=trigger_shown(wf, t.trigger),
                        case=case.id,
                        why=why,
                    ),
                    hint=_(
                        "an amount above the ceiling needs the county to change the policy; "
                        "a household whose income reaches the standard receives no dibao"
                    ),
                )
        paid = {
            st for pk in policy.payments.values() if pk.workflow == wf.name for st in pk.paid_states
        }
        if dest in paid and case.state not in paid:
            from aidflow.services import households

            try:
                households.check_exclusive(
                    self.session, policy, wf.name, case.person_id, case.id, approving=True
                )
            except RefusedError as exc:
                why = _(
                    "cannot {trigger} case {case}: {why}",
                    trigger=trigger_shown(wf, t.trigger),
                    case=case.id,
                    why=exc.message,
                )
                raise RefusedError(why, hint=exc.hint) from None

    def policy_scope(self, names: set[str]) -> dict[str, Any]:
        """policy.<name> for each name: the value in force today (county time)."""
        if not names:
            return {}
        policy = self.standards()
        if policy is None:
            from aidflow.errors import UnavailableError

            raise UnavailableError(
                _(
                    "a guard reads {names} but no policy standards are loaded",
                    names=", ".join(f"policy.{n}" for n in sorted(names)),
                ),
                hint=_(
                    "pass the policy to Service (the CLI reads "
                    "$AIDFLOW_WORKFLOWS/policy/standards.yaml)"
                ),
            )
        today = self.local_today()
        return {name: policy.value(name, today) for name in sorted(names)}

    def person_scope(self, person_id: int, *, roles: bool = False) -> dict[str, Any]:
        """person.* for guards; related_roles (one more query) only when `roles`."""
        names = list(PERSON_COLUMNS)
        row = persons.person_columns(self.session, person_id, names)
        scope = dict(zip(names, row, strict=True))
        scope["related_roles"] = (
            user_store.roles_of_users(self.session, scope["related_users"] or []) if roles else []
        )
        born = scope["birth_date"]
        today = self.local_today()
        scope["age"] = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
        scope["birth_date"] = born.isoformat()
        return scope

    def local_today(self) -> date:
        return self.clock.now().astimezone(self.calendar.tz).date()

    def due_of(self, case: CaseRecord, now: datetime) -> Due | None:
        """The case's deadline as people are shown it (engine.deadlines), or None."""
        if case.deadline_at is None:
            return None
        wd = counts_working_days(
            self.workflow_of(case), case.state, case.deadline_at, self.calendar.tz
        )
        return describe(case.deadline_at, now, self.calendar, working_days=wd)

    def workflow_of(self, case: CaseRecord) -> Workflow:
        """The parsed definition of the version the case runs on."""
        wf = self._workflows.get(case.workflow_version_id)
        if wf is None:
            wf = self._workflows[case.workflow_version_id] = workflows.definition(
                self.session, case.workflow_version_id
            )
        return wf

    def load_for_write(
        self, actor: Actor, case_id: int, expected_version: int | None
    ) -> CaseRecord:
        """The case, after checking the caller's version, area and that it is open."""
        case, content_hash = cases.case_for_write(self.session, case_id)
        if case.workflow_version_id not in self._workflows:  # read along: no lookup
            self._workflows[case.workflow_version_id] = workflows.definition(
                self.session, case.workflow_version_id, content_hash
            )
        if expected_version is not None and case.version != expected_version:
            raise ConflictError(
                _(
                    "case {case} changed since you loaded it (version {expected}, now "
                    "{version}); reload and retry",
                    case=case_id,
                    expected=expected_version,
                    version=case.version,
                ),
                hint=_("`aidflow case show {case}` shows what changed", case=case_id),
            )
        require_area(actor, case.township, case.village, _("case {case}", case=case_id))
        if case.closed_at is not None:
            raise RefusedError(
                _(
                    "case {case} is closed (state '{state}')",
                    case=case_id,
                    state=state_shown(self.workflow_of(case), case.state),
                ),
                hint=_("open a new case if the person needs help again"),
            )
        return case

    def fire(
        self,
        actor: Actor,
        case_id: int,
        trigger: str,
        raw_fields: dict[str, str] | None = None,
        note: str | None = None,
        *,
        expected_version: int | None = None,
        kind: str = "transition",
        command_id: str | None = None,
    ) -> Recorded:
        """Fire `trigger` if every rule allows it; else RefusedError with every reason."""
        check_note(note)
        earlier = replayed(self.session, actor, command_id, kind, case_id, trigger)
        if earlier is not None:
            return earlier
        case = self.load_for_write(actor, case_id, expected_version)
        wf = self.workflow_of(case)
        t = wf.transition(case.state, trigger) or _by_label(wf, case.state, trigger)
        if t is None:
            named = _labelled(wf, trigger)  # a label of a trigger not fired from here
            raise self._unknown_trigger(wf, case.state, named.trigger if named else trigger)
        trigger = t.trigger  # a label given (受理) names its trigger (accept)
        fields = self.parse_fields(wf, t, raw_fields or {})
        snap = self.snapshot(case, wf, [t])
        now = self.clock.now()
        guard_fields = {k: rules.field_for_guard(wf.fields[k], v) for k, v in fields.items()}
        reasons = rules.blocks(snap, t, actor, now, guard_fields, note)
        hint = None
        if t.once_per_person is not None:  # e.g. the same cause assisted once a year
            refusal = self._once_per_person(case, wf, t, fields, now)
            if refusal is not None:
                reasons.append(refusal[0])
                hint = refusal[1]
        shown = trigger_shown(wf, trigger)
        if reasons and all(rules.is_input_problem(r) for r in reasons):
            # only what the command gave is wrong: invalid input, not a refusal by the rules
            raise InvalidInputError(
                _(
                    "cannot {trigger} case {case}: {why}",
                    trigger=shown,
                    case=case_id,
                    why=pick("; ", "；").join(reasons),
                ),
                hint=_(
                    "`aidflow case show {case}` lists what '{trigger}' takes",
                    case=case_id,
                    trigger=shown,
                ),
                detail=rules.detail_of(reasons),
            )
        if reasons:
            raise RefusedError(
                _(
                    "cannot {trigger} case {case}: {why}",
                    trigger=shown,
                    case=case_id,
                    why=pick("; ", "；").join(reasons),
                ),
                hint=hint,
                detail=rules.detail_of(reasons),
            )
        dest = machine.advance(wf, case.state, trigger, rules.holds(snap, guard_fields))
        event_fields: dict[str, Any] = dict(fields)
        if t.computes:  # fields the engine derives, e.g. related_to_staff from person.related_users
            if snap.household_problem is not None and rules.reads([t]).household:
                raise RefusedError(
                    _(
                        "cannot {trigger} case {case}: {why}",
                        trigger=shown,
                        case=case_id,
                        why=snap.household_problem,
                    ),
                    hint=_("record the household's members and incomes, then fire it again"),
                )
            scope = rules.guard_scope(snap, guard_fields)
            for name, text in t.computes.items():
                value = rules.guard(text).evaluate(scope)
                event_fields[name] = rules.stored_value(wf.fields[name], value)
        self._programme_rules(case, wf, t, dest, event_fields, snap.household)
        if snap.tally is not None and t.requires_vote:
            event_fields["vote"] = {
                "yes": snap.tally.yes,
                "no": snap.tally.no,
                "abstain": snap.tally.abstain,
                "dissent": list(snap.tally.dissent),
            }
        return self._move(case, wf, actor, kind, trigger, dest, event_fields, note, now, command_id)

    def _once_per_person(
        self, case: CaseRecord, wf: Workflow, t: Transition, fields: dict[str, Any], now: datetime
    ) -> tuple[str, str] | None:
        """Why `t` may not approve this case again for the person, and how to override; or None."""
        rule = t.once_per_person
        assert rule is not None
        data = dict(case.data, **fields)
        value = data.get(rule.field)
        if value is None or (rule.unless is not None and data.get(rule.unless) is True):
            return None
        within = parse_duration(rule.within)
        days = {
            "h": within.amount / 24 + 1,
            "d": within.amount + 1,
            "wd": within.amount * 2 + 30,
            "mo": within.amount * 31 + 1,
        }[within.unit]  # a loose bound; the exact test follows
        states = sorted(
            {dst for x in wf.transitions if x.once_per_person is not None for dst in x.dests}
        )
        for other_id, at, data in cases.approvals_of_person(
            self.session, case.person_id, wf.name, states, case.id, now - timedelta(days=days)
        ):
            if data.get(rule.field) == value and self.calendar.add(at, within) > now:
                roles = sorted(
                    {
                        r
                        for x in wf.transitions
                        if x.once_per_person is not None and rule.unless in x.fields
                        for r in x.roles
                    }
                )
                how = (
                    _(
                        "{roles} may approve it again with --field {field}=true and a note",
                        roles=pick(" or ", "或").join(role_shown(wf, r) for r in roles),
                        field=rule.unless,
                    )
                    if rule.unless and roles
                    else _(
                        "approve it after {within} have passed", within=duration_shown(rule.within)
                    )
                )
                day = at.astimezone(self.calendar.tz).strftime("%Y-%m-%d")
                why = _(
                    "{field} '{value}' was already approved for this person in case {other} "
                    "on {day} (once per {within})",
                    field=field_shown(wf, rule.field),
                    value=value_shown(wf, rule.field, value),
                    other=other_id,
                    day=day,
                    within=duration_shown(rule.within),
                )
                return why, how
        return None

    def _move(
        self,
        case: CaseRecord,
        wf: Workflow,
        actor: Actor,
        kind: str,
        trigger: str,
        dest: str,
        fields: dict[str, Any],
        note: str | None,
        now: datetime,
        command_id: str | None = None,
    ) -> Recorded:
        # the case's data is rewritten only when a field changes it (1 == True: compare types too)
        changed = {
            k: v
            for k, v in fields.items()
            if k in wf.fields
            and (type(old := case.data.get(k, _MISSING)) is not type(v) or old != v)
        }
        data = dict(case.data, **changed) if changed else case.data
        new_clocks = None
        if wf.clocks:  # start, pause, resume, extend or stop the workflow's named clocks
            from aidflow.engine import clocks

            before = case.clocks or {}
            after = clocks.advance(wf, before, trigger, dest, now, self.calendar)
            if after != before:  # written by the same versioned UPDATE as the move
                new_clocks = after
        values = Move(
            dest,
            now,
            self.deadline_for(wf, dest, now, data),
            data if changed else None,
            now if wf.states[dest].final else None,
            new_clocks,
        )
        return events.write_event(
            self.session,
            case.id,
            case.last_seq,
            case.head_hash,
            EventInput(
                kind=kind,
                actor=actor.name,
                entered_by=actor.entered_by,
                at=now,
                trigger=trigger,
                from_state=case.state,
                to_state=dest,
                fields=fields,
                note=note,
            ),
            values,
            case.version,
            command_id,
        )

    def _unknown_trigger(self, wf: Workflow, state: str, trigger: str) -> RefusedError:
        here = [
            t.trigger for t in wf.transitions_from(state) if not rules.closed_by_settings(wf, t)
        ]
        if wf.has_trigger(trigger):
            return RefusedError(
                _(
                    "'{trigger}' cannot be fired from state '{state}'",
                    trigger=trigger_shown(wf, trigger),
                    state=state_shown(wf, state),
                ),
                hint=_(
                    "from '{state}' you can fire: {triggers}",
                    state=state_shown(wf, state),
                    triggers=listed([trigger_shown(wf, t) for t in here]) or _("nothing"),
                ),
            )
        hint = did_you_mean(trigger, [t.trigger for t in wf.transitions])
        return RefusedError(
            _(
                "workflow '{workflow}' has no trigger '{trigger}'",
                workflow=pick(wf.name, wf.labels.zh),
                trigger=trigger,
            ),
            hint=hint
            or _(
                "from '{state}' you can fire: {triggers}",
                state=state_shown(wf, state),
                triggers=listed([trigger_shown(wf, t) for t in here]) or _("nothing"),
            ),
        )

    def parse_fields(self, wf: Workflow, t: Transition, raw: dict[str, str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in raw.items():
            if name in t.computes:  # e.g. the dibao amount: computed, never typed
                raise InvalidInputError(
                    _(
                        "'{trigger}' computes field '{field}'; it cannot be given",
                        trigger=trigger_shown(wf, t.trigger),
                        field=field_shown(wf, name),
                    ),
                    hint=_(
                        "leave out --field {name}=...: the engine sets it from {rule}",
                        name=name,
                        rule=t.computes[name],
                    ),
                )
            if name not in t.fields:
                takes = [f"{f} ({field_shown(wf, f)})" if f != field_shown(wf, f) else f
                         for f in t.fields]  # fmt: skip
                hint = did_you_mean(name, t.fields) or _(
                    "'{trigger}' takes: {fields}",
                    trigger=trigger_shown(wf, t.trigger),
                    fields=listed(takes) or _("no fields"),
                )
                raise InvalidInputError(
                    _(
                        "'{trigger}' does not take field '{field}'",
                        trigger=trigger_shown(wf, t.trigger),
                        field=name,
                    ),
                    hint=hint,
                )
            out[name] = rules.parse_field(name, wf.fields[name], value)
        return out

    def object(
        self,
        actor: Actor,
        case_id: int,
        note: str | None,
        expected_version: int | None = None,
        command_id: str | None = None,
    ) -> Recorded:
        """Raise an objection: fire the state's objection transition, recorded as such."""
        earlier = replayed(self.session, actor, command_id, "objection", case_id, None)
        if earlier is not None:
            return earlier
        # the area first: an outsider learnt the case's state from the refusal (test_access)
        case = self.load_for_write(actor, case_id, expected_version)
        wf = self.workflow_of(case)
        paths = [t for t in wf.transitions_from(case.state) if t.objection]
        if not paths:
            raise RefusedError(
                _(
                    "no objection can be raised in state '{state}'",
                    state=state_shown(wf, case.state),
                ),
                hint=_("objections are taken during a public notice"),
            )
        if (
            len(paths) > 1
        ):  # e.g. back to review or to investigation by a setting: the first open one
            scope = rules.guard_scope(self.snapshot(case, wf, paths), {})
            open_paths = [t for t in paths if all(rules.guard(g).evaluate(scope) for g in t.guards)]
            paths = open_paths or paths  # none open: fire the first, which refuses with its reasons
        return self.fire(
            actor,
            case_id,
            paths[0].trigger,
            {},
            note,
            expected_version=expected_version,
            kind="objection",
            command_id=command_id,
        )

    def vote(
        self,
        actor: Actor,
        case_id: int,
        choice: str,
        note: str | None = None,
        command_id: str | None = None,
    ) -> Recorded:
        check_note(note)
        choice = VOTE_LABELS.get(choice.strip(), choice.strip())
        if choice not in VOTE_CHOICES:
            raise InvalidInputError(
                _(
                    "vote must be yes, no or abstain (赞成, 反对 or 弃权), not {choice}",
                    choice=repr(choice),
                )  # fmt: skip
            )
        earlier = replayed(self.session, actor, command_id, "vote", case_id, None, choice)
        if earlier is not None:
            return earlier
        case = self.load_for_write(actor, case_id, None)
        wf = self.workflow_of(case)
        rule = wf.states[case.state].vote
        if rule is None:
            raise RefusedError(
                _(
                    "case {case} is in '{state}', which holds no vote",
                    case=case_id,
                    state=state_shown(wf, case.state),
                )
            )
        if rule.voters not in actor.roles:
            raise ForbiddenError(
                _(
                    "voting on case {case} needs role {role}; {user} has {roles}",
                    case=case_id,
                    role=role_shown(wf, rule.voters),
                    user=actor.name,
                    roles=listed([role_shown(wf, r) for r in actor.roles]),
                )
            )
        if rule.exclude_related:
            (related,) = persons.person_columns(self.session, case.person_id, ["related_users"])
            if actor.name in (related or []):
                raise RefusedError(
                    _(
                        "{user} is related to the applicant and is excluded from this vote",
                        user=actor.name,
                    )
                )
        now = self.clock.now()
        round_ = case.entry_seq
        try:  # the unique key (case, round, voter) refuses a second vote without a read first
            votes.insert_vote(
                self.session, case_id, round_, actor.name, choice, now, actor.entered_by
            )
        except DuplicateError:
            raise RefusedError(_("{user} already voted in this review", user=actor.name)) from None
        return events.write_event(
            self.session,
            case_id,
            case.last_seq,
            case.head_hash,
            EventInput(
                kind="vote",
                actor=actor.name,
                entered_by=actor.entered_by,
                at=now,
                fields={"choice": choice, "round": round_},
                note=note,
            ),
            None,
            case.version,
            command_id,
        )

    def add_note(
        self, actor: Actor, case_id: int, note: str, command_id: str | None = None
    ) -> Recorded:
        if not note.strip():
            raise InvalidInputError(_("the note is empty"), hint=_("write --note TEXT"))
        check_note(note)
        earlier = replayed(self.session, actor, command_id, "note", case_id, None, note)
        if earlier is not None:
            return earlier
        case = self.load_for_write(actor, case_id, None)
        return events.write_event(
            self.session,
            case_id,
            case.last_seq,
            case.head_hash,
            EventInput(
                kind="note",
                actor=actor.name,
                entered_by=actor.entered_by,
                at=self.clock.now(),
                note=note,
            ),
            None,
            case.version,
            command_id,
        )

    # -- reading -------------------------------------------------------------------------

    def display_names(self, names: Iterable[str]) -> dict[str, str]:
        """The display name (李明) of each of `names` that is a user who has one."""
        return cases.display_names(self.session, names)

    def verify_audit(self, case_ids: list[int]) -> tuple[int, int, list[Finding], list[int]]:
        """Check the event chains of `case_ids` (every case if empty): (cases checked, events
        checked, findings, those of `case_ids` that name no case)."""
        checked, events_checked, findings = audit.verify(self.session, case_ids or None)
        unknown: list[int] = []
        if case_ids:  # a mistyped --case must not read as "audit ok"
            known = cases.existing_case_ids(self.session, case_ids)
            known |= {f.case_id for f in findings}
            unknown = sorted(set(case_ids) - known)
        return checked, events_checked, findings, unknown

    def case(self, case_id: int) -> CaseRecord:
        """The case as it is now (no area check: for a command's own report of its result)."""
        return cases.get_case(self.session, case_id)

    def view(self, actor: Actor, case_id: int) -> CaseView:
        case, wv, person, history = cases.case_view(self.session, case_id)
        require_area(
            actor, case.township, case.village, _("case {case}", case=case_id), say_where=False
        )
        wf = workflows.definition_of(wv)
        snap = self.snapshot(case, wf)
        now = self.clock.now()
        actions = []
        if case.closed_at is None:
            for t in wf.transitions_from(case.state):
                if not rules.closed_by_settings(wf, t):  # ruled out by the county's settings
                    reasons = rules.blocks(snap, t, actor, now, check_inputs=False)
                    chosen = None
                    if t.routes:
                        holds = rules.holds(snap, {})
                        chosen = machine.route(wf, case.state, t.trigger, holds)
                    actions.append(Action(t, reasons, chosen))
        return CaseView(case, person, wf, wv, history, actions, snap.tally, snap.dwell_until)

    def list_cases(
        self,
        actor: Actor,
        *,
        state: str | None = None,
        workflow: str | None = None,
        township: str | None = None,
        village: str | None = None,
        person_id: int | None = None,
        overdue: bool = False,
        mine: bool = False,
        include_closed: bool = False,
        limit: int | None = 200,
    ) -> tuple[list[Listed], int]:
        """The cases in the actor's area matching the filters, the soonest deadline first,
        each with its person; and how many match in all (more than listed past `limit`).

        `state` is a state's name or its label in either language (入户调查); a workflow or
        state that no deployed workflow has is invalid input, with the closest names."""
        found, total = cases.list_cases(
            self.session,
            actor.scope,
            states=self._states_called(state, workflow) if state or workflow else None,
            workflow=workflow,
            township=township,
            village=village,
            person_id=person_id,
            deadline_before=self.clock.now() if overdue else None,
            assigned_to=actor.name if mine else None,
            include_closed=include_closed,
            limit=limit,
        )
        people = persons.persons_by_id(self.session, [c.person_id for c in found])
        return [Listed(c, people[c.person_id]) for c in found], total

    def _states_called(self, text: str | None, workflow: str | None) -> list[str] | None:
        """The state names `text` stands for (a name, or a zh/en label), in `workflow` or in
        any deployed workflow (None: no state filter, once `workflow` is checked)."""
        from aidflow.errors import did_you_mean

        deployed = [wf for _, wf in workflows.deployed_definitions(self.session)]
        names = {wf.name for wf in deployed}
        if workflow is not None and workflow not in names:
            raise InvalidInputError(
                _("--workflow {workflow}: no such workflow is deployed", workflow=repr(workflow)),
                hint=did_you_mean(workflow, names)
                or _("deployed: {names}", names=", ".join(sorted(names))),
            )
        if text is None:
            return None
        known: dict[str, set[str]] = {}  # name or label -> state names
        for wf in deployed:
            if workflow is not None and wf.name != workflow:
                continue
            for name, st in wf.states.items():
                for word in (name, st.labels.zh, st.labels.en):
                    known.setdefault(word, set()).add(name)
        wanted = text.strip()
        if wanted not in known:
            raise InvalidInputError(
                _(
                    "--state {state}: no state has that name or label in {workflow}",
                    state=repr(wanted),
                    workflow=workflow,
                )
                if workflow
                else _("--state {state}: no state has that name or label", state=repr(wanted)),
                hint=did_you_mean(wanted, known)
                or _("`aidflow workflow show NAME` lists a workflow's states"),
            )
        return sorted(known[wanted])

    def vote_tally(self, case_id: int, voter: str, round_: int) -> rules.Tally:
        """The tally of round `round_` as `voter`'s vote left it (also when read on a retry)."""
        case = cases.get_case(self.session, case_id)
        wf = self.workflow_of(case)
        # the current round's state is the case's own (a migration may have renamed it
        # since the event that entered it)
        state = (
            case.state
            if round_ == case.entry_seq
            else events.state_entered_by(self.session, case_id, round_)
        )
        rule = wf.states[state].vote if state else None
        assert rule is not None, "a vote's round is the event that entered a voting state"
        cast = votes.votes_of(self.session, case_id, round_)
        mine = [v for v, _ in cast].index(voter)
        return rules.tally(rule, cast[: mine + 1])
