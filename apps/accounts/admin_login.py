"""Admin sign-in: each password attempt at the admin's login form goes to the activity log, and django-axes locks a
username and IP pair out after too many wrong ones (the settings: cfg.settings.admin_login)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from apps.accounts.activity import Client, activity_record
from apps.accounts.identifiers import user_agent
from apps.accounts.models import Activity, User
from cfg.client_ip import client_ip

# An email address at most: the admin's form refuses longer, but the signal may carry anything.
USERNAME_MAX_LENGTH = 254
LOCKOUT_TEMPLATE = "accounts/admin_lockout.html"


def attempted_username(request: HttpRequest, credentials: Mapping[str, Any] | None = None) -> str | None:
    """The username as the user model stores it: axes counts Root@Example.com and root@example.com as one, so
    changing the case does not buy more guesses."""
    source = credentials or request.POST
    username = source.get("username")
    if not isinstance(username, str):
        return None
    return username.strip().lower()[:USERNAME_MAX_LENGTH]


def lockout_response(request: HttpRequest, *args: Any) -> HttpResponse:
    """Axes' answer to a locked-out pair (AXES_LOCKOUT_CALLABLE): Unfold's sign-in page with a 429."""
    cooloff_seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    context = {
        **admin.site.each_context(request),
        "title": "Too many sign-in attempts",
        "cooloff_minutes": max(1, cooloff_seconds // 60),
        "login_url": reverse(f"{admin.site.name}:login"),
    }
    response = render(request, LOCKOUT_TEMPLATE, context, status=429)
    response["Retry-After"] = str(cooloff_seconds)
    return response


def _is_admin_login(request: HttpRequest | None) -> bool:
    match = getattr(request, "resolver_match", None)
    return match is not None and match.view_name == f"{admin.site.name}:login"


def _client(request: HttpRequest) -> Client:
    return Client(ip=client_ip(request), user_agent=user_agent(request))


@receiver(user_logged_in, dispatch_uid="accounts.admin_sign_in")
def record_admin_sign_in(sender: object, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    if request is not None and _is_admin_login(request):
        activity_record(action=Activity.ADMIN_SIGN_IN, user=user, client=_client(request))


@receiver(user_login_failed, dispatch_uid="accounts.admin_sign_in_failed")
def record_admin_sign_in_failure(
    sender: object, credentials: Mapping[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    if request is None or not _is_admin_login(request):
        return
    username = attempted_username(request, credentials)
    user = User.objects.filter(email__iexact=username).first() if username else None
    activity_record(
        action=Activity.ADMIN_SIGN_IN_FAILED,
        user=user,
        client=_client(request),
        username=username or "",
        # Set by axes' own receiver, which runs first (axes is installed before the accounts app).
        locked_out=bool(getattr(request, "axes_locked_out", False)),
    )
