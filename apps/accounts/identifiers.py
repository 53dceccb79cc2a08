"""Sign-in identifiers: an email address or an E.164 phone number, normalised so one person has one key."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.http import HttpRequest

from modules.twilio.phone import is_e164

PHONE_PUNCTUATION = re.compile(r"[\s\-().]")
IDENTIFIER_HELP = "Enter an email address or a phone number in international form, e.g. +15551234567."
EMAIL_HELP = "Enter an email address with a plain (ASCII) part before the @, e.g. ada@example.com."
EMAIL_MAX_LENGTH = 254  # RFC 5321's limit, and the length of every column that stores one
# An email address's limit, with room for spaces and phone punctuation around what is kept.
IDENTIFIER_MAX_LENGTH = 320
IDENTIFIER_TOO_LONG = f"Too long for an email address or phone number: at most {EMAIL_MAX_LENGTH} characters."
EMAIL_TOO_LONG = (
    f"The email address is too long: at most {EMAIL_MAX_LENGTH} characters once an international domain is "
    "written in its ASCII (xn--) form."
)


@dataclass(frozen=True)
class Identifier:
    kind: Literal["email", "phone"]
    value: str

    @property
    def lookup(self) -> dict[str, str]:
        return {"email__iexact": self.value} if self.kind == "email" else {"phone": self.value}

    @property
    def mailbox(self) -> str:
        """The inbox or phone the value reaches: ada+1@x and ada+2@x are two accounts but one inbox, so they
        share a throttle (otherwise each tag would bring a fresh allowance of codes sent to the same person)."""
        if self.kind != "email":
            return self.value
        local, _, domain = self.value.rpartition("@")
        return f"{local.split('+', 1)[0]}@{domain}"


def parse_identifier(raw: str) -> Identifier:
    """Raise ValueError with a message meant for the client when raw is neither form.

    The length comes first: normalising (IDNA above all) costs time in proportion to it, and throttles parse
    identifiers before any serializer has looked at them."""
    if len(raw) > IDENTIFIER_MAX_LENGTH:
        raise ValueError(IDENTIFIER_TOO_LONG)
    text = raw.strip()
    if "@" in text:
        return Identifier("email", canonical_email(text))
    phone = PHONE_PUNCTUATION.sub("", text)
    if phone.startswith("00"):
        phone = "+" + phone[2:]
    if not is_e164(phone):
        raise ValueError(IDENTIFIER_HELP)
    return Identifier("phone", phone)


def canonical_email(text: str) -> str:
    """One ASCII spelling per mailbox: lower case, the domain in its IDNA (xn--) form.

    The local part must be plain ASCII. Django's validator lets through U+017F (long s) and U+0131 (dotless i),
    which PostgreSQL's UPPER() (behind email__iexact) folds to 'S' and 'I': '\u017fam@x' would then find the
    account of 'sam@x' while its code went to another mailbox. Quoted local parts are refused: '"ada"@x' is the
    mailbox 'ada@x' under another name. The length is checked on the result: an international domain grows in its
    xn-- form (a 95-character address can need 305), past what the columns hold.
    """
    local, _, domain = text.rpartition("@")
    if not local.isascii() or local.startswith('"'):
        raise ValueError(EMAIL_HELP)
    if "." not in domain.strip(".") or domain.startswith("["):
        # Django's validator takes `localhost` and address literals (`[127.0.0.1]`): no mailbox on the internet,
        # but a relay would still try them.
        raise ValueError(IDENTIFIER_HELP)
    try:
        domain = domain.encode("idna").decode("ascii")
        address = f"{local}@{domain}".lower()
        validate_email(address)
    except (UnicodeError, ValidationError):
        raise ValueError(IDENTIFIER_HELP) from None
    if len(address) > EMAIL_MAX_LENGTH:
        raise ValueError(EMAIL_TOO_LONG)
    return address


def user_agent(request: HttpRequest) -> str:
    agent: str = request.META.get("HTTP_USER_AGENT", "")
    return agent[:512]
