"""Message-IDs of outbox rows: `<token@domain>`, made when a row is queued and kept with it.

Apart from notify.render so that queueing an email unrendered (the deadline sweep) does not
import Jinja.
"""

from __future__ import annotations

import re

from aidflow.errors import InvalidInputError
from aidflow.i18n import _

_MESSAGE_ID = re.compile(r"^<[!-;=?-~]+@[!-;=?-~]+>$")  # printable ASCII, no '<', '>', space


def check_message_id(message_id: str) -> None:
    if not _MESSAGE_ID.match(message_id):
        raise InvalidInputError(
            _(
                "Message-ID {message_id!r} must look like <token@domain> "
                "(printable ASCII, no spaces)",
                message_id=message_id,
            )
        )


def make_message_id(token: str, domain: str) -> str:
    """`<token@domain>`; keep `token` with the outbox row (a uuid4 made at insert) so a resend
    carries the same id and a receiving side can drop the duplicate."""
    message_id = f"<{token}@{domain}>"
    check_message_id(message_id)
    return message_id
