"""E.164 phone numbers: one pattern for the model, the sign-in parser and the commands.

ASCII digits only: `\\d` also matches other scripts' digits (Arabic-Indic, fullwidth), which a number stored by the
admin could hold but that sign-in, which parses ASCII, could never match."""

from __future__ import annotations

import re

from django.core.validators import RegexValidator

E164_PATTERN = r"\+[1-9][0-9]{7,14}"
E164 = re.compile(E164_PATTERN)
E164_MESSAGE = "Enter a phone number in E.164 form, e.g. +15551234567."

validate_e164 = RegexValidator(rf"\A{E164_PATTERN}\Z", E164_MESSAGE)


def is_e164(text: str) -> bool:
    return E164.fullmatch(text) is not None
