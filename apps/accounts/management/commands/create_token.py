"""create_token: an access and refresh token for a user, to try the API by hand (development only).

The pair comes from the same service as a sign-in (apps.accounts.services.token_pair_issue), so the refresh token
is recorded among the outstanding tokens: it rotates, signs out and is revoked like any other."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser

from apps.accounts import services
from apps.accounts.identifiers import Identifier, canonical_email
from apps.accounts.selectors import user_find_by_identifier
from cfg.management.base import ProjectCommand


class Command(ProjectCommand):
    help = (
        "Print a JWT pair (access and refresh) for an existing active user, to try the API: "
        "Authorization: Bearer <access>. Development only."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", help="The user's email address")
        parser.add_argument("--json", action="store_true", help='Print {"access": ..., "refresh": ...}')

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.ENVIRONMENT != "development":
            raise CommandError(f"create_token runs in development only (this is {settings.ENVIRONMENT})")
        try:
            email = canonical_email(options["email"].strip())
        except ValueError:
            raise CommandError(f"{options['email']!r} is not an email address (e.g. ada@example.com)") from None
        user = user_find_by_identifier(identifier=Identifier("email", email))
        if user is None:
            raise CommandError(f"no user with the email address {email}")
        if not user.is_active:
            raise CommandError(f"the user {email} is inactive; activate them in the admin first")
        pair = services.token_pair_issue(user=user)
        if options["json"]:
            self.stdout.write(json.dumps({"access": pair.access, "refresh": pair.refresh}))
            return
        access_minutes = int(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds() // 60)
        refresh_days = settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"].days
        staff = " (staff)" if user.is_staff else ""
        self.stdout.write(f"Tokens for {email}{staff}:")
        self.stdout.write(f"access  (valid {access_minutes} min): {pair.access}")
        self.stdout.write(f"refresh (valid {refresh_days} days): {pair.refresh}")
        self.stdout.write(f'Try it: curl -H "Authorization: Bearer {pair.access}" {settings.SITE_URL}/api/accounts/me/')
