"""The activity log: who did what, and from where."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from apps.accounts.models import ActivityLog, User


@dataclass(frozen=True)
class Client:
    """Where a request came from, for the activity log and the OTP record."""

    ip: str | None = None
    user_agent: str = ""


def activity_record(
    *, action: str, user: User | None = None, client: Client | None = None, **details: Any
) -> ActivityLog:
    client = client or Client()
    return ActivityLog.objects.create(
        user=user, action=action, ip=client.ip, user_agent=client.user_agent, details=details
    )
