"""check_endpoints: every GET operation of the API's schema, called in-process as anonymous, a user and staff (a
superuser: staff endpoints then do their work rather than refuse it); any answer 5xx is a bug.

Everything runs in one transaction rolled back at the end: the two temporary users, and whatever a GET writes,
never stay. Each call has a savepoint of its own, rolled back after it, so a call that breaks the transaction (a
database error) does not fail the calls after it, and one call's writes do not change what the next one sees.

Path parameters take the ids of real rows where a list endpoint above them shows some (/api/leads/ for
/api/leads/{lead_id}/), else a placeholder that names no row (the answer should be 404)."""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import IO, Any, cast
from urllib.parse import quote

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.signals import request_finished
from django.db import DatabaseError, close_old_connections, router, transaction
from django.http import HttpResponseBase
from django.test import Client
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.settings import spectacular_settings
from rest_framework_simplejwt.tokens import AccessToken
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

ROLES = ("anonymous", "user", "staff")
PARAMETER = re.compile(r"\{([^}/]+)\}")
MISSING_INTEGER = 999_999_999
MISSING_UUID = "00000000-0000-0000-0000-000000000000"
MISSING_TEXT = "check-endpoints-missing"
# TEST-NET-1 (RFC 5737): the anonymous throttles count these calls apart from the developer's own requests.
REMOTE_ADDR = "192.0.2.1"
ERROR_LENGTH = 200
LISTED_FAILURES = 5


@dataclass(frozen=True)
class Operation:
    template: str
    parameters: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Call:
    path: str
    template: str
    who: str
    status: int
    ms: float
    streaming: bool
    error: str

    @property
    def failed(self) -> bool:
        return self.status >= 500

    def named(self) -> str:
        text = f"GET {self.path} as {self.who} → {self.status}"
        return f"{text} ({self.error})" if self.error else text


def get_operations() -> list[Operation]:
    """The schema's GET operations, the ones without path parameters first (they give the others their ids)."""
    # Its warnings are validate_openapi's business; here they would only bury the report.
    with GENERATOR_STATS.silence():
        schema = spectacular_settings.DEFAULT_GENERATOR_CLASS().get_schema(request=None, public=True)
    operations = []
    for template, item in schema.get("paths", {}).items():
        operation = item.get("get")
        if operation is None:
            continue
        declared = [*item.get("parameters", []), *operation.get("parameters", [])]
        parameters = {entry["name"]: entry.get("schema", {}) for entry in declared if entry.get("in") == "path"}
        operations.append(Operation(template, parameters))
    return sorted(operations, key=lambda operation: (operation.template.count("{"), operation.template))


def placeholder(schema: dict[str, Any]) -> str | int:
    if schema.get("type") == "integer":
        return MISSING_INTEGER
    if schema.get("format") == "uuid":
        return MISSING_UUID
    return MISSING_TEXT


def sample_value(name: str, rows: list[Any]) -> Any:
    """The parameter's value in the first row that has it: the field of its name, or the row's id for pk, id and
    <thing>_id."""
    keys = [name, "id"] if name in ("pk", "id") or name.endswith("_id") else [name]
    for row in rows:
        if isinstance(row, dict):
            for key in keys:
                if row.get(key) not in (None, ""):
                    return row[key]
    return None


def listed_rows(response: HttpResponseBase) -> list[Any]:
    """The rows of a list answer: a page's results, or a bare list."""
    if response.streaming or response.status_code != 200 or "json" not in response.get("Content-Type", ""):
        return []
    try:
        body = json.loads(response.content)  # type: ignore[attr-defined]  # not streaming: HttpResponse
    except ValueError:
        return []
    rows = body.get("results") if isinstance(body, dict) else body
    return rows if isinstance(rows, list) else []


def request_host() -> str:
    """A host that ALLOWED_HOSTS lets through (the test client's own, testserver, is there only in tests)."""
    for pattern in settings.ALLOWED_HOSTS:
        if pattern == "*":
            return "testserver"
        if host := pattern.lstrip("."):
            return host
    return "localhost"


def exception_text(response: HttpResponseBase) -> str:
    exc_info = getattr(response, "exc_info", None)
    if not exc_info:
        return ""
    error = exc_info[1]
    lines = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    return text if len(text) <= ERROR_LENGTH else text[: ERROR_LENGTH - 1] + "…"


def close_unread(response: HttpResponseBase) -> None:
    """Close a streaming answer without reading it. Closing sends request_finished, whose close_old_connections
    would close the connection in the middle of the transaction (out of autocommit, it looks unusable): the test
    client itself closes its answers so."""
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)


@contextmanager
def request_log_muted(muted: bool) -> Iterator[None]:
    """Django logs each 500 with its traceback; the report names the error, -v 2 shows the tracebacks too."""
    logger = logging.getLogger("django.request")
    was_disabled = logger.disabled
    logger.disabled = muted or was_disabled
    try:
        yield
    finally:
        logger.disabled = was_disabled


class Checker:
    def __init__(self, client: Client, headers: dict[str, dict[str, str]], alias: str, secure: bool) -> None:
        self.client = client
        self.headers = headers
        self.alias = alias
        self.secure = secure
        self.rows: dict[tuple[str, str], list[Any]] = {}

    def path_for(self, operation: Operation, who: str) -> str:
        def value(match: re.Match[str]) -> str:
            name, above = match.group(1), operation.template[: match.start()]
            rows = self.rows.get((above, who)) or self.rows.get((above, "staff")) or []
            found = sample_value(name, rows)
            chosen = placeholder(operation.parameters.get(name, {})) if found is None else found
            return quote(str(chosen), safe="")

        return PARAMETER.sub(value, operation.template)

    def call(self, operation: Operation, who: str) -> Call:
        path = self.path_for(operation, who)
        started = time.perf_counter()
        with transaction.atomic(using=self.alias):
            # No Accept: text/event-stream: the live endpoints answer a page of JSON instead of a stream.
            response = self.client.get(path, headers=self.headers[who], secure=self.secure)
            ms = (time.perf_counter() - started) * 1000
            if response.streaming:
                close_unread(response)  # its status is known; the stream itself may never end
            else:
                self.rows[(operation.template, who)] = listed_rows(response)
            transaction.set_rollback(True, using=self.alias)
        return Call(
            path=path,
            template=operation.template,
            who=who,
            status=response.status_code,
            ms=round(ms, 1),
            streaming=response.streaming,
            error=exception_text(response),
        )


class Command(BaseCommand):
    help = (
        "Call every GET endpoint of the API schema in-process as anonymous, a user and staff (temporary users, rolled "
        "back) and report any 5xx answer; exit 1 when there is one."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print every call as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.ENVIRONMENT == "production":
            raise CommandError("check_endpoints creates users and calls every endpoint: it does not run in production")
        operations = get_operations()
        if not operations:
            raise CommandError("the API schema has no GET operation to call")
        user_model = get_user_model()
        alias = router.db_for_write(user_model)
        try:
            with request_log_muted(options["verbosity"] < 2), transaction.atomic(using=alias):
                calls = self.run_calls(operations, alias)
                transaction.set_rollback(True, using=alias)
        except DatabaseError as error:
            lines = str(error).strip().splitlines()
            raise CommandError(f"the database failed: {lines[0] if lines else type(error).__name__}") from None
        failures = [call for call in calls if call.failed]
        if options["json"]:
            report = {"calls": [asdict(call) for call in calls], "server_errors": len(failures)}
            self.stdout.write(json.dumps(report, indent=2))
        else:
            self.print_report(calls, len(operations))
        if failures:
            named = "; ".join(call.named() for call in failures[:LISTED_FAILURES])
            more = f"; and {len(failures) - LISTED_FAILURES} more" if len(failures) > LISTED_FAILURES else ""
            raise CommandError(f"{len(failures)} call(s) answered 5xx: {named}{more}")

    def run_calls(self, operations: list[Operation], alias: str) -> list[Call]:
        user_model = get_user_model()
        manager = cast(Any, user_model._default_manager)
        tag = secrets.token_hex(4)
        user = manager.create_user(**{user_model.USERNAME_FIELD: f"check-endpoints-user-{tag}@example.com"})
        staff = manager.create_user(
            **{user_model.USERNAME_FIELD: f"check-endpoints-staff-{tag}@example.com"}, is_staff=True, is_superuser=True
        )
        headers = {
            "anonymous": {"accept": "application/json"},
            "user": {"accept": "application/json", "authorization": f"Bearer {AccessToken.for_user(user)}"},
            "staff": {"accept": "application/json", "authorization": f"Bearer {AccessToken.for_user(staff)}"},
        }
        client = Client(raise_request_exception=False, HTTP_HOST=request_host(), REMOTE_ADDR=REMOTE_ADDR)
        checker = Checker(client, headers, alias, secure=bool(getattr(settings, "SECURE_SSL_REDIRECT", False)))
        calls = []
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(file=cast(IO[str], self.stderr)),
            transient=True,
        )
        with progress:
            bar = progress.add_task("calling", total=len(operations) * len(ROLES))
            for operation in operations:
                for who in ROLES:
                    progress.update(bar, description=f"GET {operation.template} as {who}")
                    calls.append(checker.call(operation, who))
                    progress.advance(bar)
        return calls

    def print_report(self, calls: list[Call], operations: int) -> None:
        console = Console(file=cast(IO[str], self.stdout), width=140)
        failed = sum(call.failed for call in calls)
        columns = ["path", "who", "status", "ms"] + (["error"] if failed else [])
        table = Table(*columns, title=f"GET endpoints: {operations}")
        for call in calls:
            colour = "red" if call.failed else "green" if call.status < 400 else "yellow"
            status = f"{call.status} (stream)" if call.streaming else str(call.status)
            # Paths carry ids from the database and errors carry messages: plain text, never rich's markup.
            cells: list[Text | str] = [Text(call.path), call.who, f"[{colour}]{status}[/]", f"{call.ms:.0f}"]
            table.add_row(*cells, *([Text(call.error)] if failed else []))
        console.print(table)
        statuses = Counter(call.status for call in calls)
        summary = ", ".join(f"{count} answered {status}" for status, count in sorted(statuses.items()))
        console.print(f"{len(calls)} calls: {summary}; {failed} answered 5xx.", highlight=False)
