"""Named points a process can be stopped at, so a crash test kills it where it means to.

A test starts a command with the setting `failpoint` (env AIDFLOW_FAILPOINT) naming a
point and a count, e.g. `payments.batch:3`: when the code passes that point for the
third time, the process stops itself with SIGSTOP. The test waits until the process is
stopped (waitpid with WUNTRACED), then kills it with SIGKILL. Where the kill lands
therefore depends on the program, never on a timer or on how loaded the machine is.

Each point is named `<module>.<what>` where the code calls `reach`; with no failpoint
armed, `reach` is one comparison. The points:

    import.merge      a batch of the person import written, not yet committed
    import.batch      a batch of the person import committed (the last one marks the run done)
    payments.batch    a page of payments inserted, inside the run's one transaction
    payments.export_page  a page of the bank file made, the export not yet recorded
    files.write       half of a file the CLI writes is written, not yet named
    uploads.received  a file sent with a command copied for the operation, not read yet
    sweep.batch       a batch of escalations and their outbox rows inserted, not committed
    sweep.commit      the sweep committed (the scheduler round goes on to care jobs, delivery)
    delivery.sent     a message accepted by the mail server, its "sent" mark not committed
    delivery.message  a message's "sent" mark committed
"""

from __future__ import annotations

import os
import signal

from aidflow.errors import InvalidInputError
from aidflow.i18n import _

_armed: tuple[str, int] | None = None
_passed: dict[str, int] = {}


def arm(spec: str | None) -> None:
    """Arm one failpoint from `NAME:COUNT` (or NAME, meaning the first pass); None disarms."""
    global _armed
    _passed.clear()
    if not spec:
        _armed = None
        return
    name, sep, count = spec.partition(":")
    if not name or (sep and not (count.isdecimal() and int(count) >= 1)):
        raise InvalidInputError(
            _("failpoint {spec!r} is not NAME or NAME:COUNT", spec=spec),
            hint=_("write e.g. payments.batch:3"),
        )
    _armed = (name, int(count) if sep else 1)


def reach(name: str) -> None:
    """Pass the point `name`; stop the process here if it is the armed point's n-th pass."""
    if _armed is None or _armed[0] != name:
        return
    _passed[name] = _passed.get(name, 0) + 1
    if _passed[name] == _armed[1]:
        os.kill(os.getpid(), signal.SIGSTOP)
