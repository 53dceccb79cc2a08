"""A database system check: a stored embedding column that does not fit the configured embedder stops `migrate`
(which `make run` and the compose stack run before the web server) and `check --database default`, with the
command that fixes it; /readyz reports it too. knowbase_reembed skips the checks. It is a database check so that
commands that need no database (`check`, `help`) do not connect for it."""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.db import DatabaseError

from apps.knowbase.health import dimension_problem


@checks.register(checks.Tags.database, deploy=False)
def embedding_dimensions_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    try:
        problem = dimension_problem()
    except DatabaseError:
        return []  # no database yet: the migrations and readiness checks say so
    if problem is None:
        return []
    return [checks.Error(problem[0].upper() + problem[1:], id="knowbase.E001")]
