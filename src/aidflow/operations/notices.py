"""The public notice (`aidflow notice print`, the web page /notice/TOWNSHIP/VILLAGE)."""

from __future__ import annotations

from typing import Any

from aidflow.operations import Caller, operation
from aidflow.services.cases import Service
from aidflow.services.runtime import Runtime


@operation("notice.village", write=False, runtime=True)
def village(
    svc: Service, caller: Caller, rt: Runtime, township: str, village: str
) -> dict[str, Any]:
    """The notice of one village in the caller's area (format aidflow.notice/1): its cases
    in notice with what may be published, their periods and the objection channel."""
    from aidflow.policy.notice import load_notice_policy
    from aidflow.services.notice import build_notice

    policy = load_notice_policy(rt.county.notice_file)
    return build_notice(svc, caller.user, policy, township, village, caller.lang)
