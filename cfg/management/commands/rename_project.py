"""rename_project: give the project its own name and slug in one step.

The identity lives in config/config.py (project_name, project_slug); the slug is repeated where a
tool cannot read Python: the compose project, image and database names, the Python package name in
pyproject.toml, and the examples that show them. Running it again with the same name changes nothing.
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
README = "README.md"
PYPROJECT = "pyproject.toml"
# Files where the slug appears as a word: compose project/image/database names and their examples.
SLUG_FILES = (
    "compose.yaml",
    "compose.prod.yaml",
    "docker/compose.hybrid.yaml",
    "docker/hybrid.env",
    "docker/prod.env.example",
    "docker/Dockerfile",
    ".env.example",
    "docs/deploy.md",
    README,
)
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


def _slug_word(slug: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9_]){re.escape(slug)}(?![A-Za-z0-9_])")


def renamed(path: str, text: str, old: Identity, new: Identity) -> str:
    """The file's text with the old identity replaced by the new one."""
    if path == CONFIG_FILE:
        text = NAME_FIELD.sub(lambda m: f'{m.group(1)}"{new.name}"', text, count=1)
        return SLUG_FIELD.sub(lambda m: f'{m.group(1)}"{new.slug}"', text, count=1)
    if path == PYPROJECT:
        pattern = re.compile(rf'^name = "{re.escape(old.package)}"$', re.MULTILINE)
        return pattern.sub(f'name = "{new.package}"', text, count=1)
    if path == README:
        title = re.compile(rf"\A# {re.escape(old.name)}$", re.MULTILINE)
        text = title.sub(f"# {new.name}", text, count=1)
        # The generated environment table shows the name as PROJECT_NAME's default.
        text = text.replace(f"| `PROJECT_NAME` | `{old.name}` |", f"| `PROJECT_NAME` | `{new.name}` |")
    return _slug_word(old.slug).sub(new.slug, text)


def refuse_slug_in_use(path: str, text: str, slug: str) -> None:
    """The slug is replaced wherever it stands as a word, so it must not already mean something else there (a
    compose service such as `web`, a path such as /app): a later rename would rewrite those places too."""
    for number, line in enumerate(text.splitlines(), start=1):
        if _slug_word(slug).search(line):
            raise CommandError(
                f"The slug {slug!r} already means something else in {path} (line {number}: {line.strip()!r}), and a "
                f"later rename would rewrite it there too. Choose another slug, e.g. --slug {slug}_app."
            )


class Command(BaseCommand):
    help = "Rename the project: its name and slug in config, compose, pyproject and the README, in one step."
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
        for relative in (CONFIG_FILE, PYPROJECT, *SLUG_FILES):
            path = base / relative
            if not path.is_file():
                continue
            text = path.read_text()
            if relative in SLUG_FILES and new.slug != old.slug:
                refuse_slug_in_use(relative, text, new.slug)
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
                f"Note: the databases are now named {new.slug}. Local data made under the old name stays in the "
                f"database {old.slug} (embedded server) and in the compose volumes of project {old.slug}."
            )
