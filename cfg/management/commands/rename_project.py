"""rename_project: give the project its own name and slug in one step.

The identity lives in config/config.py (project_name, project_slug); pyproject.toml repeats the slug as the
package name, which packaging tools read from there alone. Nothing else carries the name: compose names its
project after the checkout's directory (or COMPOSE_PROJECT_NAME in .env) and its database `app`, the docs say
"your project", and the README's environment table says "set in config/config.py" for the two fields. A rename
thus changes three lines in two files, and later upstream changes to any other line merge with plain git.
Running it again changes nothing.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

CONFIG_FILE = "config/config.py"
PYPROJECT = "pyproject.toml"
# Every file the command may change. Keep it this short: each line here is a line a later upstream change to
# the same file could conflict with.
RENAMED_FILES = (CONFIG_FILE, PYPROJECT)
# Variables in .env that override config/config.py, so that a rename would seem not to take effect.
OVERRIDES = ("PROJECT_NAME", "PROJECT_SLUG")
SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
# PostgreSQL truncates identifiers at 63 bytes and the test database is test_<slug>.
MAX_SLUG_LENGTH = 50
MAX_NAME_LENGTH = 80
RESERVED_SLUGS = frozenset({"postgres", "template0", "template1"})
NAME_FIELD = re.compile(r'^(\s*project_name: str = )"([^"\\\n]*)"', re.MULTILINE)
SLUG_FIELD = re.compile(r'^(\s*project_slug: str = )"([^"\\\n]*)"', re.MULTILINE)


def slugify(name: str) -> str:
    """'Acme Rocket 2' -> 'acme_rocket_2'; accented letters keep their base letter ('Über' -> 'uber')."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")


def validate(name: str, slug: str) -> None:
    """Raise CommandError naming what is wrong and how to fix it."""
    if not name.strip():
        raise CommandError("The project name is empty. Give one, e.g. rename_project 'Acme Rocket'.")
    if len(name) > MAX_NAME_LENGTH:
        raise CommandError(f"The project name is {len(name)} characters; use at most {MAX_NAME_LENGTH}.")
    if any(char in name for char in '"\\`$') or not name.isprintable():
        raise CommandError(
            f"The project name {name!r} contains quotes, backslashes, '$', '`' or control characters; "
            "use letters, digits, spaces and simple punctuation."
        )
    if not SLUG_PATTERN.match(slug):
        raise CommandError(
            f"The slug {slug!r} (from the name {name!r}) must start with a lowercase letter and hold only "
            "lowercase letters, digits and underscores; pass --slug, e.g. --slug acme_rocket."
        )
    if len(slug) > MAX_SLUG_LENGTH:
        raise CommandError(f"The slug {slug!r} is {len(slug)} characters; use at most {MAX_SLUG_LENGTH} (--slug).")
    if slug in RESERVED_SLUGS:
        raise CommandError(f"The slug {slug!r} is a PostgreSQL system database name; choose another (--slug).")


@dataclass(frozen=True)
class Identity:
    name: str
    slug: str

    @property
    def package(self) -> str:
        return self.slug.replace("_", "-")


def read_identity(config_text: str) -> Identity:
    name, slug = NAME_FIELD.search(config_text), SLUG_FIELD.search(config_text)
    if not name or not slug:
        raise CommandError(
            f'{CONFIG_FILE} does not set project_name: str = "…" and project_slug: str = "…" on lines of '
            "their own; restore those two lines in ProjectConfig and run the command again."
        )
    return Identity(name.group(2), slug.group(2))


def renamed(path: str, text: str, old: Identity, new: Identity) -> str:
    """The file's text with the old identity replaced by the new one."""
    if path == CONFIG_FILE:
        text = NAME_FIELD.sub(lambda m: f'{m.group(1)}"{new.name}"', text, count=1)
        return SLUG_FIELD.sub(lambda m: f'{m.group(1)}"{new.slug}"', text, count=1)
    if path == PYPROJECT:
        pattern = re.compile(rf'^name = "{re.escape(old.package)}"$', re.MULTILINE)
        return pattern.sub(f'name = "{new.package}"', text, count=1)
    return text


def overridden_in_dotenv(base: Path) -> list[str]:
    """The identity variables that .env sets: they win over config/config.py."""
    dotenv = base / ".env"
    if not dotenv.is_file():
        return []
    lines = dotenv.read_text().splitlines()
    return [name for name in OVERRIDES if any(re.match(rf"\s*(export\s+)?{name}\s*=", line) for line in lines)]


class Command(BaseCommand):
    help = "Rename the project: its name and slug in config/config.py and pyproject.toml, in one step."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="The display name, e.g. 'Acme Rocket'")
        parser.add_argument("--slug", help="Lowercase identifier (default: from the name, e.g. acme_rocket)")
        parser.add_argument("--dry-run", action="store_true", help="Show what would change, write nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        name: str = options["name"].strip()
        slug: str = options["slug"] or slugify(name)
        validate(name, slug)
        base = Path(settings.BASE_DIR)
        config_path = base / CONFIG_FILE
        if not config_path.is_file():
            raise CommandError(f"{config_path} is missing; run the command from the project's checkout.")
        old, new = read_identity(config_path.read_text()), Identity(name, slug)

        changes: dict[Path, str] = {}
        for relative in RENAMED_FILES:
            path = base / relative
            if not path.is_file():
                continue
            text = path.read_text()
            updated = renamed(relative, text, old, new)
            if updated != text:
                changes[path] = updated

        if not changes:
            self.stdout.write(f"The project is already named {new.name!r} (slug {new.slug}); nothing to change.")
            return
        verb = "Would change" if options["dry_run"] else "Changed"
        for path, text in changes.items():
            if not options["dry_run"]:
                path.write_text(text)
            self.stdout.write(f"  {verb} {path.relative_to(base)}")
        if options["dry_run"]:
            return
        self.stdout.write(self.style.SUCCESS(f"Renamed {old.name!r} ({old.slug}) to {new.name!r} ({new.slug})."))
        if old.slug != new.slug:
            self.stdout.write(
                f"Note: the embedded server's database is now named {new.slug}; local data made under the old name "
                f"stays in the database {old.slug}. Compose is not affected: it names its project after this "
                "directory (or COMPOSE_PROJECT_NAME in .env) and its database `app`."
            )
        if overrides := overridden_in_dotenv(base):
            self.stdout.write(
                self.style.WARNING(f"Note: .env sets {', '.join(overrides)}, which wins over {CONFIG_FILE}; remove it.")
            )
