"""Django's PostgreSQL backend, plus: start the embedded server before connecting."""

from __future__ import annotations

from typing import Any

from django.db.backends.postgresql import base

from cfg.db.embedded import EmbeddedPostgres


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self) -> dict[str, Any]:
        options = dict(self.settings_dict["OPTIONS"])
        pgdata = options.pop("pgdata")
        socket_dir = EmbeddedPostgres(pgdata).ensure_running(self.settings_dict["NAME"])
        settings_dict = {**self.settings_dict, "OPTIONS": options, "HOST": socket_dir}
        original, self.settings_dict = self.settings_dict, settings_dict
        try:
            return super().get_connection_params()
        finally:
            self.settings_dict = original
