"""The public form's defences that need no outside service: the honeypot and the signed form timestamp.

The form token is the time the form was shown, signed (django.core.signing, salted for this use): a person takes
at least LEADS__MIN_FILL_SECONDS to fill the form in; a token older than LEADS__FORM_MAX_AGE, or one that does not
verify, is refused. The HTML form embeds one; scripts get one from GET /api/leads/form-token/."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core import signing

from apps.leads.exceptions import FormTokenInvalid

FORM_TOKEN_SALT = "apps.leads.form-token"
# A field people never see (hidden from view and from screen readers) and bots fill in: a filled one is dropped.
HONEYPOT_FIELD = "website"
TOKEN_MAX_CHARS = 200


def form_token_issue(*, at: float | None = None) -> str:
    return signing.dumps({"shown": at if at is not None else time.time()}, salt=FORM_TOKEN_SALT)


def form_token_check(token: Any) -> None:
    """Raise FormTokenInvalid, with a message for the person, unless `token` is a genuine form token shown at least
    MIN_FILL_SECONDS and at most FORM_MAX_AGE ago."""
    if not isinstance(token, str) or not token.strip():
        raise FormTokenInvalid("The form token is missing: reload the page (or GET /api/leads/form-token/).")
    if len(token) > TOKEN_MAX_CHARS:
        raise FormTokenInvalid("The form token is not valid: reload the page and send the form again.")
    max_age = int(settings.LEADS["FORM_MAX_AGE"])
    expired = FormTokenInvalid(f"The form is older than {max_age // 60} minutes: reload the page and send it again.")
    try:
        payload = signing.loads(token, salt=FORM_TOKEN_SALT, max_age=max_age)
    except signing.SignatureExpired:
        raise expired from None
    except signing.BadSignature:
        raise FormTokenInvalid("The form token is not valid: reload the page and send the form again.") from None
    shown = payload.get("shown") if isinstance(payload, dict) else None
    if not isinstance(shown, int | float):
        raise FormTokenInvalid("The form token is not valid: reload the page and send the form again.")
    elapsed = time.time() - shown
    if elapsed > max_age:
        raise expired
    least = int(settings.LEADS["MIN_FILL_SECONDS"])
    if elapsed < least:
        raise FormTokenInvalid(
            f"The form was sent too quickly (in under {least} seconds): wait a moment and send it again."
        )


def honeypot_filled(data: Any) -> bool:
    value = data.get(HONEYPOT_FIELD) if hasattr(data, "get") else None
    return bool(value) and bool(str(value).strip())
