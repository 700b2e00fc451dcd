"""`aidflow demo --county`: a synthetic county run through a quarter on a training database.

Generates a county (aidflow.files.synthetic), imports its three survey lists (the bad rows
skipped and listed), runs the look-back, which opens a case for every gap, and then steps a
simulated clock through July-September 2023: every morning a scheduler round (deadlines,
escalations, the notice that closes itself, visit checks), and through the day the
caseworkers' steps in time order, each case on its workflow's usual path with a few that
stall (so some are overdue), a few rejected, emergencies reported and helped after a
varying number of hours, and care visits logged for persons supported at home. Then it
pays the quarter and prints the report. Everything is drawn from the seed, so the same
arguments give the same database.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from aidflow.cli.app import App
from aidflow.i18n import _, pick

START = datetime(2023, 7, 3, 9, 0)  # a Monday; county time
END = datetime(2023, 10, 9, 9, 0)  # after September has ended, so its visits are counted
PASSWORD = "demo-county-2023"  # every demo user's password, for `aidflow login` afterwards


@dataclass(order=True)
class _Step:
    at: datetime
    order: int
    run: Callable[[], None] = field(compare=False)


@dataclass
class _Users:
    """Who plays each part in each township."""

    caseworkers: dict[str, tuple[str, str]] = field(default_factory=dict)
    officer: dict[str, str] = field(default_factory=dict)
    reps: dict[str, list[str]] = field(default_factory=dict)
    providers: dict[str, str] = field(default_factory=dict)
    county_officer: str = "co1"


class CountyDemo:
    """The simulation: a queue of steps in time order, run on the App's database."""

    def __init__(self, app: App, persons: int, townships: int, seed: str, out: Path) -> None:
        from aidflow.clock import FrozenClock

        self.app = app
        self.rng = random.Random(f"aidflow-demo:{seed}")
        self.persons, self.townships, self.seed, self.out = persons, townships, seed, out
        self.tz = app.calendar.tz
        self.clock = FrozenClock(START.replace(tzinfo=self.tz))
        app.clock = self.clock
        self.queue: list[_Step] = []
        self.order = 0
        self.users = _Users()
        self.counts: dict[str, int] = {}
        self.words: dict[str, str] = {}  # trigger and visit-kind codes -> Chinese labels

    # -- the queue ----------------------------------------------------------------------

    def at(self, when: datetime, run: Callable[[], None]) -> None:
        self.order += 1
        heapq.heappush(self.queue, _Step(when, self.order, run))

    def later(self, days: float, run: Callable[[], None]) -> None:
        """`run` at a working hour at least `days` from now."""
        earliest = self.clock.now() + timedelta(days=days)
        when = earliest.replace(hour=self.rng.randint(9, 16), minute=self.rng.randint(0, 59))
        if when < earliest:
            when += timedelta(days=1)
        self.at(when, run)

    def word(self, code: str) -> str:
        """A trigger's or visit kind's code as the reader sees it (its label in Chinese)."""
        if "" not in self.words:  # the care kinds, read once
            from aidflow.policy.care import load_policy_file

            self.words[""] = ""

            care = load_policy_file(self.app.county.care_visits_file)
            self.words.update({k: kind.labels.zh for k, kind in care.kinds.items()})
        return pick(code, self.words.get(code, ""))

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    def run_queue(self, until: datetime) -> None:
        while self.queue and self.queue[0].at <= until:
            step = heapq.heappop(self.queue)
            if step.at > self.clock.now():
                self.clock.set(step.at)
            step.run()

    # -- setting up ---------------------------------------------------------------------

    def setup(self) -> Any:
        import os
        import pwd

        from aidflow.files.synthetic import generate, write_county
        from aidflow.policy.workflows import load_workflow_file, workflow_files
        from aidflow.services.users import import_areas

        county = generate(self.persons, self.townships, self.seed)
        files = write_county(county, self.out)
        click.echo(
            _(
                "county generated in {directory}/: {persons} persons, {townships} townships, "
                "{bad} deliberately bad rows",
                directory=self.out,
                persons=len(county.persons),
                townships=self.townships,
                bad=len(county.bad_rows),
            )
        )
        app = self.app
        app.upgrade_database(training=True)
        towns = sorted({t for t, _ in county.areas})
        with app.transaction() as svc:
            svc.add_user(
                None,
                "admin",
                ["admin"],
                "*",
                "admin@county.example",
                os_login=pwd.getpwuid(os.getuid()).pw_name,
                password=PASSWORD,
            )
            for f in workflow_files(app.county.workflows):
                wf = load_workflow_file(f)
                svc.deploy("admin", wf)
                for t in wf.definition.transitions:
                    if t.labels is not None:
                        self.words.setdefault(t.trigger, t.labels.zh)
            import_areas(svc.session, self.clock.now(), "admin", county.areas)

            def add(name: str, role: str, area: str) -> None:
                svc.add_user(
                    "admin", name, [role], area, f"{name}@county.example", password=PASSWORD
                )

            add("co1", "county_officer", "*")
            add("csup", "county_supervisor", "*")
            for i, town in enumerate(towns, 1):
                a, b = f"cw{i}a", f"cw{i}b"
                add(a, "township_caseworker", town)
                add(b, "township_caseworker", town)
                add(f"vo{i}", "village_officer", town)
                add(f"tsup{i}", "township_supervisor", town)
                add(f"cp{i}", "care_provider", town)
                self.users.caseworkers[town] = (a, b)
                self.users.officer[town] = f"vo{i}"
                self.users.providers[town] = f"cp{i}"
                self.users.reps[town] = [f"rep{i}_{k}" for k in range(1, 7)]
                for rep in self.users.reps[town]:
                    add(rep, "village_rep", town)
        click.echo(
            _(
                "users: admin, co1 (county officer), csup (county supervisor), and per township "
                "cwNa/cwNb (caseworkers), voN, tsupN, cpN, repN_1..6; password {password}",
                password=PASSWORD,
            )
        )
        app.user = "co1"
        from aidflow.cli.files import send_file

        for source in ("civil_affairs", "health", "disabled_federation"):
            result = app.call(
                "person.import",
                source=source,
                skip_bad=True,
                **send_file(files[f"{source}.csv"]),
            )
            lines = sorted({p["line"] for p in result["skipped"]})
            click.echo(
                _("imported {file}: {n} rows", file=source + ".csv", n=result["imported"])
                + (_(", refused lines {lines}", lines=", ".join(map(str, lines))) if lines else "")
            )
        return county, towns

    # -- the paths ----------------------------------------------------------------------

    def fire(
        self,
        actor: str,
        case_id: int,
        trigger: str,
        fields: dict[str, str] | None = None,
        note: str | None = None,
    ) -> bool:
        from aidflow.errors import AidflowError

        try:
            with self.app.transaction() as svc:
                svc.fire(svc.actor(actor), case_id, trigger, fields, note)
        except AidflowError as exc:  # a step the rules refuse stays undone, and is counted
            self.count(
                _(
                    "refused {trigger}: {error}",
                    trigger=self.word(trigger),
                    error=type(exc).__name__,
                )
            )
            return False
        self.count(self.word(trigger))
        return True

    def stalls(self) -> bool:
        """Some cases stop at a step and go overdue (the plan's oversight has work to do)."""
        return self.rng.random() < 0.06

    def drive(self, case_id: int, workflow: str, town: str, person: Any) -> None:
        if workflow == "tekun":
            self.drive_tekun(case_id, town, person)
        else:
            self.drive_dibao(case_id, town, person)

    def drive_dibao(self, case_id: int, town: str, person: Any) -> None:
        a, b = self.users.caseworkers[town]
        rng = self.rng

        def accept() -> None:
            if self.fire(a, case_id, "accept") and not self.stalls():
                self.later(rng.uniform(0.5, 3), investigate)

        def investigate() -> None:
            fields = {"investigators": f"{a},{b}"}
            if self.fire(a, case_id, "start_investigation", fields) and not self.stalls():
                self.later(rng.uniform(3, 12), findings)

        def findings() -> None:
            fields = {"monthly_income": str(person.income), "income_stable": "true"}
            if (
                self.fire(a, case_id, "submit_findings", fields, "入户调查完成")
                and not self.stalls()
            ):
                self.later(rng.uniform(1, 4), vote)

        def vote() -> None:
            failing = rng.random() < 0.06
            for i, rep in enumerate(self.users.reps[town]):
                choice = "no" if (failing and i < 3) or (not failing and i == 5) else "yes"
                with self.app.transaction() as svc:
                    svc.vote(svc.actor(rep), case_id, choice)
            officer = self.users.officer[town]
            if failing:
                self.fire(officer, case_id, "review_failed")
                self.later(rng.uniform(1, 3), reasons)
            elif self.fire(officer, case_id, "review_passed"):
                # the scheduler closes the 7-day notice; the county decides after it
                self.later(7 + rng.uniform(1, 10), decide)

        def decide() -> None:
            if rng.random() < 0.05:
                self.fire("co1", case_id, "reject", {"rejection_reason": "家庭收入超过标准"})
                self.later(rng.uniform(1, 3), reasons)
            else:
                amount = max(560 - person.income, 150)
                self.fire("co1", case_id, "approve", {"amount": str(amount)})

        def reasons() -> None:
            self.fire(a, case_id, "send_reasons", note="书面告知已送达")

        self.later(rng.uniform(0.2, 4), accept)

    def drive_tekun(self, case_id: int, town: str, person: Any) -> None:
        a, b = self.users.caseworkers[town]
        rng = self.rng

        def accept() -> None:
            fields = {"eligibility_group": "elderly"}
            if self.fire(a, case_id, "accept", fields) and not self.stalls():
                self.later(rng.uniform(0.5, 3), investigate)

        def investigate() -> None:
            fields = {"investigators": f"{a},{b}"}
            if self.fire(a, case_id, "start_investigation", fields) and not self.stalls():
                self.later(rng.uniform(3, 15), opinion)

        def opinion() -> None:
            fields = {"preliminary_opinion": "eligible"}
            if (
                self.fire(a, case_id, "submit_opinion", fields, "符合特困供养条件")
                and not self.stalls()
            ):
                self.later(7 + rng.uniform(0.1, 2), close)

        def close() -> None:
            if self.fire(a, case_id, "close_notice") and not self.stalls():
                self.later(rng.uniform(2, 12), confirm)

        def confirm() -> None:
            adl = rng.choice((0, 0, 1, 2, 3, 4, 5, 6))
            care = "full" if adl == 0 else "partial" if adl <= 3 else "none"
            share = {"full": 0.1, "partial": 0.35, "none": 0.6}[care]
            mode = "centralized" if rng.random() < share else "dispersed"
            fields = {
                "spot_checked": "false",
                "sample_seed": "demo",
                "adl_not_done": str(adl),
                "self_care": care,
                "support_mode": mode,
                "care_card_no": f"ZL{case_id:06d}",
            }
            if self.fire("co1", case_id, "confirm", fields) and mode == "dispersed":
                self.visits(case_id, town)

        self.later(rng.uniform(0.2, 4), accept)

    def visits(self, case_id: int, town: str) -> None:
        """Care visits from the month after support starts: two visits and a haircut a
        month, one in eight missed."""
        from aidflow.errors import AidflowError

        provider = self.users.providers[town]
        now = self.clock.now()
        month = date(now.year + now.month // 12, now.month % 12 + 1, 1)
        while month < END.date():
            for day, kind in ((5, "visit"), (12, "haircut"), (19, "visit")):
                if self.rng.random() < 0.125:
                    continue
                when = datetime(month.year, month.month, day, 10, 0, tzinfo=self.tz)

                def log(kind: str = kind) -> None:
                    try:
                        self.app.user = provider
                        self.app.call("visit.log", case_id=case_id, kind=kind)
                        self.count(_("visit {kind}", kind=self.word(kind)))
                    except AidflowError:
                        self.count(_("visit refused"))

                self.at(when, log)
            month = date(month.year + month.month // 12, month.month % 12 + 1, 1)

    def emergency(self, town: str, id_number: str) -> None:
        a, _b = self.users.caseworkers[town]
        rng = self.rng

        def report() -> None:
            with self.app.transaction() as svc:
                case = svc.open_case(
                    svc.actor(a), id_number, "temporary_assistance", emergency=True
                )
            self.count(_("emergency reported"))
            hours = rng.choice((1, 2, 3, 4, 6, 8, 12, 18, 20, 23, 26, 30, 40))
            self.at(
                self.clock.now() + timedelta(hours=hours, minutes=rng.randint(0, 50)),
                lambda: help_first(case.id),
            )

        def help_first(case_id: int) -> None:
            fields = {
                "emergency_reason": "房屋失火",
                "cause": rng.choice(("fire", "accident", "sudden_illness")),
                "tier_multiple": "3",
                "amount": str(rng.choice((800, 1200, 1500, 2000))),
            }
            if self.fire(a, case_id, "assist_first", fields):
                self.later(rng.uniform(1, 5), lambda: paperwork(case_id))

        def paperwork(case_id: int) -> None:
            if self.fire(a, case_id, "complete_paperwork", note="补齐签字材料"):
                self.later(rng.uniform(1, 3), lambda: approve(case_id))

        def approve(case_id: int) -> None:
            if self.fire(a, case_id, "approve"):
                self.later(rng.uniform(1, 4), lambda: close(case_id))

        def close(case_id: int) -> None:
            self.fire(a, case_id, "close", {"referral": "none"})

        self.later(rng.uniform(0, 85), report)

    def settle(self, period: str) -> None:
        """Export the month's bank file and record the bank's answer: paid, but about one
        account in forty refused."""
        import base64
        import csv
        import io

        from aidflow.cli.files import send_file

        exported = self.app.call("payments.export", period=period, format="csv")
        text = base64.b64decode(exported["content_b64"]).decode("utf-8-sig")
        answer = io.StringIO(newline="")
        writer = csv.writer(answer, lineterminator="\n")
        writer.writerow(("reference", "status", "reason", "amount_yuan", "id_number"))
        for row in csv.DictReader(io.StringIO(text)):
            failed = self.rng.random() < 0.025
            writer.writerow(  # the bank repeats the amount and the payee it was sent
                (
                    row["reference"],
                    "failed" if failed else "paid",
                    "账户已冻结" if failed else "",
                    row["amount_yuan"],
                    row["id_number"],
                )
            )
        path = self.out / f"bank-answer-{period}.csv"
        path.write_text(answer.getvalue(), encoding="utf-8")
        done = self.app.call("payments.reconcile", **send_file(path))
        click.echo(
            _(
                "  bank answer {file}: {paid} paid, {failed} failed",
                file=path.name,
                paid=done["paid"],
                failed=done["failed"],
            )
        )

    # -- the run ------------------------------------------------------------------------

    def run(self) -> None:
        from aidflow.cli.scheduler import run_round_for

        county, towns = self.setup()
        by_id = {p.id_number: p for p in county.persons}
        for town in towns:
            self.app.user = self.users.caseworkers[town][0]
            found = self.app.call("lookback.open", township=town)
            opened = [g for g in found["gaps"] if g["opened_case"] is not None]
            click.echo(
                _(
                    "look-back {township}: {gaps} gaps, {opened} cases opened",
                    township=town,
                    gaps=len(found["gaps"]),
                    opened=len(opened),
                )
            )
            with self.app.reading() as svc:
                numbers = {g["person_id"]: _id_number(svc, g["person_id"]) for g in opened}
            for g in opened:
                person = by_id[numbers[g["person_id"]]]
                self.drive(g["opened_case"], g["workflow"], town, person)
        for _draw in range(max(len(county.persons) // 12, 3)):
            p = self.rng.choice(county.persons)
            self.emergency(p.township, p.id_number)
        day = START.replace(tzinfo=self.tz)
        end = END.replace(tzinfo=self.tz)
        while day <= end:
            self.run_queue(day)
            self.clock.set(day)
            run_round_for(self.app)
            day += timedelta(days=1)
        self.run_queue(end)
        self.clock.set(end)
        self.app.user = "co1"
        for period in ("2023-07", "2023-08", "2023-09"):
            paid = self.app.call("payments.run", period=period)
            click.echo(_("payments {period}: {summary}", period=period, summary=paid["summary"]))
            if paid["created"]:
                self.settle(period)
        done = ", ".join(f"{k} {n}" for k, n in sorted(self.counts.items()))
        click.echo(_("simulated July-September 2023: {counts}", counts=done))


def _id_number(svc: Any, person_id: int) -> str:
    from aidflow.store.persons import person_by_id

    return person_by_id(svc.session, person_id).id_number
