from __future__ import annotations

import json
import sys
from typing import Any

from django.conf import global_settings, settings
from django.core.management.base import BaseCommand, CommandParser

from cfg.introspection import MASK, mask_url_password
from cfg.management.base import plain

SECRET_WORDS = ("SECRET", "PASSWORD", "TOKEN", "API_KEY", "SIGNING_KEY", "PRIVATE_KEY")


def _masked(name: str, value: Any) -> Any:
    """Hide secrets at any depth: text under a key that says secret, password, token or key, and the password
    inside any URL (a Redis or database URL may carry one)."""
    if isinstance(value, dict):
        return {key: _masked(str(key), item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_masked("", item) for item in value)
    if isinstance(value, str | bytes) and any(word in name.upper() for word in SECRET_WORDS):
        return MASK if value else value
    if isinstance(value, str) and "://" in value and "@" in value:
        return mask_url_password(value)
    return value


class Command(BaseCommand):
    help = "Look up generated settings by name, or (no names) list what differs from Django's defaults."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("names", nargs="*", help="Setting names, e.g. DEBUG CACHES")
        parser.add_argument("--json", action="store_true")

    def handle(self, *names: str, **options: Any) -> None:
        requested = options["names"]
        if requested:
            missing = [name for name in requested if not hasattr(settings, name)]
            if missing:
                self.stderr.write(f"Unknown setting(s): {', '.join(missing)}")
                sys.exit(1)
            values = {name: _masked(name, getattr(settings, name)) for name in requested}
        else:
            values = {
                name: _masked(name, getattr(settings, name))
                for name in sorted(dir(settings))
                if name.isupper() and getattr(settings, name) != getattr(global_settings, name, object())
            }
        if options["json"]:
            self.stdout.write(json.dumps(plain(values), indent=2))
            return
        for name, value in values.items():
            default = getattr(global_settings, name, "(not a Django setting)")
            self.stdout.write(self.style.MIGRATE_HEADING(name))
            self.stdout.write(f"  value:   {plain(value)!r}")
            if not requested or name in dir(global_settings):
                self.stdout.write(f"  default: {plain(default)!r}")
