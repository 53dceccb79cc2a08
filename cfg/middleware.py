"""MIDDLEWARE: Django's own, then the apps' and the project's, each where it asks to go."""

from __future__ import annotations

from collections.abc import Iterable

from cfg.models.apps import MiddlewareSpec

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before anything that reads a body (CSRF reads form posts): a body over its limit is a 413 unread.
    "cfg.body_limit.BodyLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "cfg.csp.AdminCspMiddleware",
    # Innermost of Django's own: answers a view that found no free pooled database connection with a 503.
    "cfg.db.middleware.DatabaseBusyMiddleware",
]


def place_middleware(entries: Iterable[MiddlewareSpec]) -> list[str]:
    """Django's middleware, then each entry right after the one it names (in order of arrival), or last. Raises
    ValueError for an entry added twice or placed after one that is not there."""
    stack = list(MIDDLEWARE)
    for entry in entries:
        if entry.path in stack:
            raise ValueError(f"the middleware {entry.path} is added twice")
        if entry.after and entry.after not in stack:
            raise ValueError(f"the middleware {entry.path} goes after {entry.after}, which is not in MIDDLEWARE")
        position = stack.index(entry.after) + 1 if entry.after else len(stack)
        stack.insert(position, entry.path)
    return stack
