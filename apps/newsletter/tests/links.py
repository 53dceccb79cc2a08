"""The links tests follow: the confirmation link in a mail, and any link of the site as the test client's path."""

from __future__ import annotations

import re

from django.conf import settings

CONFIRM_LINK = re.compile(r"https?://\S+/newsletter/confirm/[^/\s]+/")


def confirm_link_in(text: str) -> str:
    match = CONFIRM_LINK.search(text)
    assert match, f"no confirmation link in {text!r}"
    return match.group(0)


def site_path(url: str) -> str:
    """The path of an absolute link of the site (links are built on SITE_URL)."""
    assert url.startswith(settings.SITE_URL), url
    return url.removeprefix(settings.SITE_URL)
