"""Who may see and touch what: the one role-and-area rule.

A user's area is `*` (the whole county), `TOWNSHIP`, or `TOWNSHIP/VILLAGE`; a case, a
person or a visit lies in one township and village. Every use case asks this module,
never the area string itself: the store turns an `Area` into SQL in one place
(`aidflow.store.scope`), and everything in Python calls `Area.covers` or the `require_*`
functions here, so one copy of the rule cannot drift from another into a data leak.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from aidflow.errors import ForbiddenError, InvalidInputError
from aidflow.i18n import _, language, pick

ADMIN = "admin"
COUNTY = "*"


@dataclass(frozen=True)
class Area:
    """A parsed area: township None means the whole county; village None the whole township."""

    township: str | None
    village: str | None

    @classmethod
    def parse(cls, text: str) -> Area:
        """`*`, `TOWNSHIP` or `TOWNSHIP/VILLAGE`; anything else is an input error."""
        text = text.strip()
        if text == COUNTY:
            return cls(None, None)
        town, sep, vill = text.partition("/")
        if not town or (sep and not vill) or "/" in vill or text.startswith("/"):
            raise InvalidInputError(
                _("area {text} is not valid", text=repr(text)),
                hint=_("write '*' for the county, TOWNSHIP, or TOWNSHIP/VILLAGE"),
            )
        return cls(town, vill or None)

    @property
    def is_county(self) -> bool:
        return self.township is None

    def covers(self, township: str, village: str) -> bool:
        """Whether a thing in `township`/`village` lies inside this area."""
        if self.township is None:
            return True
        return self.township == township and (self.village is None or self.village == village)

    def __str__(self) -> str:
        if self.township is None:
            return COUNTY
        return self.township if self.village is None else f"{self.township}/{self.village}"


@dataclass(frozen=True)
class Actor:
    """Who is acting: a user's name, roles and area (`*`, `TOWNSHIP` or `TOWNSHIP/VILLAGE`)."""

    name: str
    roles: tuple[str, ...]
    area: str
    # the administrator entering on this user's behalf (local mode, --as), if any
    entered_by: str | None = None

    @cached_property
    def scope(self) -> Area:
        """The area, parsed once per actor (a bulk command asks it for every case)."""
        return Area.parse(self.area)

    def covers(self, township: str, village: str) -> bool:
        return self.scope.covers(township, village)

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles


SYSTEM = Actor("system", (), COUNTY)

# The roles every county has, as Chinese names them (a workflow's own `roles:` labels come
# first where a workflow is at hand); English names a role by its code.
_ROLE_WORDS_ZH: dict[str, str] = {
    ADMIN: "系统管理员",
    "village_officer": "社会救助协理员",
    "village_rep": "村民代表",
    "township_caseworker": "乡镇经办人",
    "township_supervisor": "乡镇分管领导",
    "county_officer": "县民政局审核人",
    "county_supervisor": "县民政局分管领导",
    "county_leader": "县政府分管领导",
    "care_provider": "照料服务人员",
}


def role_called(role: str) -> str:
    """A role as the reader calls it: its code in English, its name in Chinese."""
    if language() == "zh":
        return _ROLE_WORDS_ZH.get(role, role)
    return role


def area_called(area: str) -> str:
    """An area as the reader calls it: `*` is the whole county in Chinese."""
    return "全县" if area == COUNTY and language() == "zh" else area


def require_area(
    actor: Actor,
    township: str,
    village: str,
    what: str,
    *,
    say_where: bool = True,
    hint: str | None = None,
) -> None:
    """Refuse `actor` a thing (`what`, e.g. "case 7") in `township`/`village` outside its area.

    The refusal names where the thing is unless `say_where` is false (reading a case
    outside one's area must not tell where it is). The scheduler (SYSTEM) acts everywhere.
    """
    if actor is SYSTEM or actor.covers(township, village):
        return
    area = area_called(actor.area)
    if say_where:
        message = _(
            "{what} is in {township}/{village}, outside {name}'s area ({area})",
            what=what,
            township=township,
            village=village,
            name=actor.name,
            area=area,
        )
    else:
        message = _(
            "{what} is outside {name}'s area ({area})", what=what, name=actor.name, area=area
        )
    raise ForbiddenError(message, hint=hint)


def require_role(actor: Actor, roles: Iterable[str], doing: str, *, admin_may: bool = True) -> None:
    """Refuse `actor` unless it holds one of `roles` (or admin, when `admin_may`)."""
    wanted = tuple(roles)
    if actor is SYSTEM or set(wanted) & set(actor.roles) or (admin_may and actor.is_admin):
        return
    held = pick(", ", "、").join(role_called(r) for r in actor.roles) or _("none")
    raise ForbiddenError(
        _(
            "{doing} needs role {roles}; {name} has {held}",
            doing=doing,
            roles=pick(" or ", "或").join(role_called(r) for r in wanted),
            name=actor.name,
            held=held,
        )
    )


def covering(users: Iterable[Actor], township: str, village: str, role: str) -> list[Actor]:
    """The users holding `role` whose area covers `township`/`village` (escalation recipients)."""
    return [u for u in users if role in u.roles and u.covers(township, village)]
