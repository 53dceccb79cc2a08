"""Cloudflare Turnstile: the optional challenge on the public form, verified at the HTTP boundary.

On when both LEADS__TURNSTILE_SITE_KEY and LEADS__TURNSTILE_SECRET_KEY are set. The widget puts its token in the
form as `cf-turnstile-response`; a script may send it as `turnstile_token`. The token is checked with Cloudflare's
siteverify API (LEADS__TURNSTILE_VERIFY_URL; tests point it at apps.leads.testing's stand-in) within
LEADS__TURNSTILE_TIMEOUT seconds. A refused token is a 400; Cloudflare unreachable, slow or answering with an error
is a 503 (nothing stored), never a 500 and never a pass."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

from apps.leads.exceptions import TurnstileFailed, TurnstileUnavailable

logger = logging.getLogger(__name__)

WIDGET_FIELD = "cf-turnstile-response"
API_FIELD = "turnstile_token"
# Cloudflare's tokens are up to 2048 characters.
TOKEN_MAX_CHARS = 2048
# Error codes that are our side's (a wrong secret) or Cloudflare's, not the visitor's.
SERVER_SIDE_CODES = frozenset({"missing-input-secret", "invalid-input-secret", "internal-error"})
SCRIPT_SOURCE = "https://challenges.cloudflare.com"


def turnstile_enabled() -> bool:
    return bool(settings.LEADS["TURNSTILE_SITE_KEY"] and settings.LEADS["TURNSTILE_SECRET_KEY"])


def turnstile_token(data: Any) -> str:
    if not hasattr(data, "get"):
        return ""
    value = data.get(WIDGET_FIELD) or data.get(API_FIELD) or ""
    return value if isinstance(value, str) else ""


def turnstile_verify(*, token: str, ip: str | None) -> None:
    """Raise TurnstileFailed (400) unless Cloudflare accepts `token`, TurnstileUnavailable (503) when it cannot say.
    Does nothing when Turnstile is off."""
    if not turnstile_enabled():
        return
    if not token.strip():
        raise TurnstileFailed("Complete the anti-spam challenge, then send the form.")
    if len(token) > TOKEN_MAX_CHARS:
        raise TurnstileFailed()
    data = {"secret": settings.LEADS["TURNSTILE_SECRET_KEY"], "response": token}
    if ip:
        data["remoteip"] = ip
    import httpx  # loaded by the first verification, not by every process that imports the leads' API

    try:
        response = httpx.post(
            settings.LEADS["TURNSTILE_VERIFY_URL"], data=data, timeout=float(settings.LEADS["TURNSTILE_TIMEOUT"])
        )
        body = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError) as error:
        logger.warning("Turnstile's verify API failed: %s", type(error).__name__)
        raise TurnstileUnavailable() from error
    if not isinstance(body, dict):
        logger.warning("Turnstile's verify API answered %s", response.status_code)
        raise TurnstileUnavailable()
    if body.get("success") is True:
        return
    codes = set(body.get("error-codes") or ())
    if codes & SERVER_SIDE_CODES:
        logger.error("Turnstile refused the server's request: %s", sorted(codes))
        raise TurnstileUnavailable()
    raise TurnstileFailed()
