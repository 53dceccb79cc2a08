"""Six-digit codes from `secrets`, stored as a keyed hash and compared in constant time."""

from __future__ import annotations

import secrets

from django.utils.crypto import constant_time_compare, salted_hmac

CODE_DIGITS = 6
KEY_SALT = "apps.accounts.codes"


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def new_salt() -> str:
    return secrets.token_hex(16)


def hash_code(code: str, *, identifier: str, salt: str) -> str:
    # Keyed with SECRET_KEY: a leaked table alone cannot be brute-forced over the million possible codes.
    return salted_hmac(KEY_SALT, f"{identifier}:{salt}:{code}", algorithm="sha256").hexdigest()


def code_matches(code: str, *, identifier: str, salt: str, code_hash: str) -> bool:
    return constant_time_compare(hash_code(code, identifier=identifier, salt=salt), code_hash)
