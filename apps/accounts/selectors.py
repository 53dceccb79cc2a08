"""The read queries of accounts."""

from __future__ import annotations

from django.conf import settings
from django.db.models import QuerySet

from apps.accounts.identifiers import Identifier
from apps.accounts.models import ActivityLog, User
from modules.live_settings.values import live_settings


def self_registration_open() -> bool:
    """Whether an unknown identifier may register by signing in: the configuration allows it
    (ACCOUNTS__SELF_REGISTRATION) and so does the live setting SIGNUPS_OPEN. The live setting is read from the
    database (one query) on every call, whoever signs in: a change applies to the next sign-in in every process."""
    return bool(settings.ACCOUNTS["SELF_REGISTRATION"]) and bool(live_settings("SIGNUPS_OPEN")["SIGNUPS_OPEN"])


def user_find_by_identifier(*, identifier: Identifier) -> User | None:
    return User.objects.filter(**identifier.lookup).first()


def user_find_by_id(*, user_id: int | str | None, active_only: bool = False) -> User | None:
    if user_id is None:
        return None
    users = User.objects.filter(pk=user_id)
    return (users.filter(is_active=True) if active_only else users).first()


def user_identifier_taken(*, identifier: Identifier, excluding: User) -> bool:
    """Whether another account signs in with this email address or phone number."""
    return User.objects.filter(**identifier.lookup).exclude(pk=excluding.pk).exists()


def activity_list_for_user(*, user: User) -> QuerySet[ActivityLog]:
    """The user's own activity, newest first."""
    return ActivityLog.objects.filter(user=user).order_by("-created_at", "-id")
