"""DjangoConfig: the configuration's fields and rules (CoreConfig), plus loading and settings generation."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Self

from cfg.exceptions import ConfigurationError
from cfg.loading import load_config
from cfg.models.core import CoreConfig
from cfg.settings.compose import generate_settings


class DjangoConfig(CoreConfig):
    """Subclass it in config/config.py. Extend it by adding fields of your own config models."""

    @classmethod
    def load(cls, base_dir: Path | str | None = None, *, environ: dict[str, str] | None = None) -> Self:
        return load_config(cls, base_dir=Path(base_dir) if base_dir else Path.cwd(), environ=environ)

    @classmethod
    def load_or_exit(cls, base_dir: Path | str | None = None, *, environ: dict[str, str] | None = None) -> Self:
        """For settings modules: a configuration mistake prints its readable lines and exits 1."""
        try:
            return cls.load(base_dir, environ=environ)
        except ConfigurationError as error:
            print(error.message, file=sys.stderr)
            raise SystemExit(1) from None

    def get_all_settings(self) -> dict[str, Any]:
        return generate_settings(self)
