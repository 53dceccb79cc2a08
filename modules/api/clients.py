"""The project's OpenAPI schema, built in-process as /api/schema/ serves it, what is wrong with it, and the API
clients generated from it: a typed Python client (openapi-python-client) and TypeScript types with a small fetch
client (openapi-typescript and openapi-fetch, from npm through npx). Used by `generate_clients` and
`validate_openapi`."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.renderers import OpenApiJsonRenderer
from drf_spectacular.settings import spectacular_settings
from openapi_spec_validator.shortcuts import get_validator_cls
from rich.console import Console
from rich.progress import Progress, ProgressColumn

OPENAPI_TYPESCRIPT = "openapi-typescript@7.13.0"
OPENAPI_FETCH_VERSION = "0.17.0"
NODE_MAJOR_NEEDED = 20
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
GENERATOR_SECONDS = 300
NO_NODE = "Node.js (npx) is not installed; install Node 20+ or pass --no-typescript"


class ClientGenerationError(Exception):
    """A generator failed; the message is one line meant for people."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class SchemaBuild:
    schema: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def operations(self) -> list[tuple[str, str, dict[str, Any]]]:
        return [
            (method, path, operation)
            for path, item in self.schema.get("paths", {}).items()
            for method, operation in item.items()
            if method in HTTP_METHODS
        ]


def build_schema(urlconf: str | None = None) -> SchemaBuild:
    """The schema as /api/schema/?format=json serves it (drf-spectacular's generator, as `spectacular` runs it),
    with the warnings and errors drf-spectacular emitted while building it."""
    generator = spectacular_settings.DEFAULT_GENERATOR_CLASS(urlconf=urlconf)
    traced = GENERATOR_STATS._trace_lineno
    GENERATOR_STATS.enable_trace_lineno()  # each message then names the view's file and line
    GENERATOR_STATS.reset()
    try:
        with GENERATOR_STATS.silence():
            schema = generator.get_schema(request=None, public=True)
        warnings, errors = list(GENERATOR_STATS._warn_cache), list(GENERATOR_STATS._error_cache)
    finally:
        GENERATOR_STATS.reset()
        GENERATOR_STATS._trace_lineno = traced
    # Through the renderer the view uses: lazy translations, decimals and dates become plain JSON.
    plain: dict[str, Any] = json.loads(OpenApiJsonRenderer().render(schema, renderer_context={}))
    return SchemaBuild(plain, [_one_line(text) for text in warnings], [_one_line(text) for text in errors])


@dataclass(frozen=True)
class Problem:
    kind: str  # one of PROBLEM_KINDS
    text: str


PROBLEM_KINDS = (
    "from drf-spectacular",
    "without a description",
    "without a documented error response",
    "from openapi-spec-validator",
)


def schema_problems(build: SchemaBuild) -> list[Problem]:
    """Everything `validate_openapi` refuses, one line each: drf-spectacular's errors and warnings, operations without
    a description or without a documented error answer (a 4xx), and what openapi-spec-validator finds."""
    spectacular, described, documented, validator = PROBLEM_KINDS
    problems = [Problem(spectacular, f"drf-spectacular {text}") for text in (*build.errors, *build.warnings)]
    for method, path, operation in build.operations():
        name = f"{method.upper()} {path} ({operation.get('operationId', 'no operationId')})"
        if not str(operation.get("description") or "").strip():
            hint = "give the view a docstring, or extend_schema(description=...)"
            problems.append(Problem(described, f"{name}: no description ({hint})"))
        if not any(str(code).startswith("4") for code in operation.get("responses", {})):
            hint = "add a 4xx with modules.api.schema.error_responses"
            problems.append(Problem(documented, f"{name}: no documented error response ({hint})"))
    problems += [Problem(validator, f"openapi-spec-validator: {text}") for text in spec_errors(build.schema)]
    return problems


def spec_errors(schema: dict[str, Any]) -> list[str]:
    found: list[str] = []
    try:
        for error in get_validator_cls(schema)(schema).iter_errors():
            found.append(_spec_error(error))
    except Exception as error:  # a reference that resolves to nothing stops the validator: that is one more problem
        reference = getattr(error, "ref", None)
        pointer = f"#{reference}" if str(reference).startswith("/") else reference
        found.append(f"the reference {pointer} points to nothing" if reference else _one_line(f"{error!r}"))
    return found


def _spec_error(error: Any) -> str:
    where = "/".join(str(part) for part in getattr(error, "absolute_path", ()))
    return _one_line(f"{error.message} (at /{where})" if where else error.message)


def _one_line(text: str, limit: int = 500) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def progress_bar(stream: Any, *columns: str | ProgressColumn) -> Progress:
    """A progress display that goes away when done, on a command's stderr. Rich writes to the stream under Django's
    OutputWrapper, which would end each of rich's partial writes with a newline. Off when stderr is not a terminal:
    rich would still leave an empty line in a log or a pipe."""
    console = Console(file=getattr(stream, "_out", stream))
    return Progress(*columns, console=console, transient=True, disable=not console.is_terminal)


def python_client_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema as openapi-python-client should read it.

    - One request body per distinct body schema: a view that parses JSON and forms lists the same serializer under
      both, and openapi-python-client turns that into code that does not import (issue #1451: `Unset` used without
      its import) and sends the form. JSON is kept over a form; multipart over JSON, as only it carries files.
    - An operation open to anonymous callers (security lists `{}`) takes a plain Client as well as an
      AuthenticatedClient: openapi-python-client asks for an AuthenticatedClient wherever security is listed.
    """
    adapted = copy.deepcopy(schema)
    for item in adapted.get("paths", {}).values():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            body = operation.get("requestBody")
            if body and len(body.get("content", {})) > 1:
                body["content"] = _one_body_per_schema(body["content"])
            if {} in operation.get("security", []):
                del operation["security"]
    return adapted


BODY_PREFERENCE = ("multipart/form-data", "application/json", "application/x-www-form-urlencoded")


def _one_body_per_schema(content: dict[str, Any]) -> dict[str, Any]:
    def rank(media_type: str) -> int:
        return BODY_PREFERENCE.index(media_type) if media_type in BODY_PREFERENCE else len(BODY_PREFERENCE)

    kept: dict[str, Any] = {}
    for media_type in sorted(content, key=rank):
        if all(content[media_type].get("schema") != other.get("schema") for other in kept.values()):
            kept[media_type] = content[media_type]
    return kept


def python_package_name(project_slug: str) -> str:
    return f"{project_slug}_client"


def generate_python(schema: dict[str, Any], target: Path, *, package: str) -> Path:
    """A typed Python client project (pyproject.toml, README.md and the package) in `target`, replacing what is
    there. Returns the package's folder."""
    config: dict[str, Any] = {
        "package_name_override": package,
        "project_name_override": package.replace("_", "-"),
        # ruff tidies the generated code when it is installed; a missing ruff would be a warning, so a failure here.
        "post_hooks": ["ruff check --fix-only .", "ruff format ."] if shutil.which("ruff", path=_path()) else [],
    }
    with tempfile.TemporaryDirectory(prefix="generate-clients-") as work:
        document = Path(work) / "openapi.json"
        document.write_text(json.dumps(python_client_schema(schema)), encoding="utf-8")
        config_file = Path(work) / "config.json"
        config_file.write_text(json.dumps(config), encoding="utf-8")
        command = [
            sys.executable, "-m", "openapi_python_client", "generate",
            "--path", str(document), "--output-path", str(target), "--config", str(config_file),
            "--meta", "pdm", "--overwrite", "--fail-on-warning",
        ]  # fmt: skip
        result = _run(command, "openapi-python-client")
    if result.returncode != 0:
        # What it wrote is missing the pieces it warned about: no half client is left to be used by mistake.
        shutil.rmtree(target, ignore_errors=True)
        raise ClientGenerationError(f"openapi-python-client: {_reason(result.stdout + result.stderr)}")
    return target / package


def node_problem() -> str | None:
    """Why TypeScript cannot be generated here, or None."""
    npx, node = shutil.which("npx", path=_path()), shutil.which("node", path=_path())
    if npx is None or node is None:
        return NO_NODE
    try:
        found = _run([node, "--version"], "node").stdout.strip()
    except ClientGenerationError as error:
        return error.message
    match = re.match(r"v(\d+)\.", found)
    if match is None or int(match.group(1)) < NODE_MAJOR_NEEDED:
        found = found or "no version"
        return f"Node.js {NODE_MAJOR_NEEDED}+ is needed (found {found}); install it or pass --no-typescript"
    return None


def openapi_typescript_command() -> list[str]:
    """The generator installed beside this Python (`make install-dev` puts it in the virtualenv's node/ folder, so
    that generating works offline), else npx, which fetches it from npm's registry once."""
    installed = Path(sys.prefix) / "node" / "node_modules" / ".bin" / "openapi-typescript"
    if installed.is_file():
        return [str(installed)]
    return [shutil.which("npx", path=_path()) or "npx", "--yes", OPENAPI_TYPESCRIPT]


def generate_typescript(schema_file: Path, target: Path, *, title: str, package: str, version: str) -> list[Path]:
    """TypeScript types of every path and component (schema.d.ts, openapi-typescript), a fetch client over them
    (client.ts, openapi-fetch) and a package.json naming the pinned dependency. Returns the files written."""
    problem = node_problem()
    if problem:
        raise ClientGenerationError(problem)
    target.mkdir(parents=True, exist_ok=True)
    types = target / "schema.d.ts"
    result = _run([*openapi_typescript_command(), str(schema_file), "--output", str(types)], "npx")
    if result.returncode != 0 or not types.is_file():
        raise ClientGenerationError(f"{OPENAPI_TYPESCRIPT}: {_reason(result.stderr + result.stdout)}")
    client = target / "client.ts"
    client.write_text(FETCH_CLIENT.replace("{title}", title), encoding="utf-8")
    manifest = target / "package.json"
    manifest.write_text(
        json.dumps(
            {
                "name": package.replace("_", "-"),
                "version": version,
                "private": True,
                "type": "module",
                "types": "./client.ts",
                "dependencies": {"openapi-fetch": OPENAPI_FETCH_VERSION},
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    return [types, client, manifest]


FETCH_CLIENT = """\
// Generated by `python manage.py generate_clients` from the {title} schema: do not edit, generate again.
// Types: ./schema.d.ts (openapi-typescript). Requests: openapi-fetch (npm install openapi-fetch).
//
//   const api = createApiClient("https://api.example.com", () => localStorage.getItem("access"));
//   const { data, error } = await api.GET("/api/accounts/me/");
import createClient, { type Client, type Middleware } from "openapi-fetch";
import type { paths } from "./schema";

export type { components, operations, paths } from "./schema";

/** A typed client of the API at `baseUrl`; `accessToken` gives the JWT access token to send, when signed in. */
export function createApiClient(
  baseUrl: string,
  accessToken?: () => string | null | undefined,
): Client<paths> {
  const client = createClient<paths>({ baseUrl });
  if (accessToken) {
    const bearer: Middleware = {
      onRequest({ request }) {
        const token = accessToken();
        if (token) {
          request.headers.set("Authorization", `Bearer ${token}`);
        }
        return request;
      },
    };
    client.use(bearer);
  }
  return client;
}
"""


def _path() -> str:
    """PATH, with this Python's own bin folder first: the venv's tools are found even when it is not activated."""
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def _run(command: list[str], name: str) -> subprocess.CompletedProcess[str]:
    environ = {
        **os.environ,
        "PATH": _path(),
        "NO_COLOR": "1",
        "npm_config_update_notifier": "false",
        "npm_config_fund": "false",
        "npm_config_audit": "false",
    }
    try:
        return subprocess.run(
            command, env=environ, capture_output=True, text=True, timeout=GENERATOR_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        raise ClientGenerationError(
            f"{name} did not finish in {GENERATOR_SECONDS} seconds (for npx: is npm's registry reachable?)"
        ) from None
    except OSError as error:
        raise ClientGenerationError(f"{name} could not start: {error}") from None


NOISE = re.compile(r"^(Generating |npm (warn|notice)|If you believe this was a mistake|✨)", re.IGNORECASE)
# Most telling first: openapi-python-client's problem headers, openapi-typescript's, npm's errors, an exception's
# message, then any line that says error.
TELLING = (
    re.compile(r"^(ERROR|WARNING) "),
    re.compile(r"^✘"),
    re.compile(r"^npm (error|ERR!)"),
    re.compile(r"^\w*Error: "),
    re.compile(r"error", re.IGNORECASE),
)
OBJECT_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-f]+>")


def _reason(output: str) -> str:
    """The line of a generator's output that says what failed, with the line after it when that one only names the
    place ("WARNING parsing GET /x/ within default." and then the reason, or npm's "npm error code E404")."""
    lines = [line.strip() for line in output.splitlines() if line.strip() and not NOISE.match(line.strip())]
    if not lines:
        return "failed without saying why"
    for telling in TELLING:
        for index, line in enumerate(lines):
            if telling.search(line):
                following = lines[index + 1] if index + 1 < len(lines) else ""
                names_the_place = line.endswith(".") or re.match(r"^npm (error|ERR!) code ", line)
                if following and not following.startswith(("{", "[")) and names_the_place:
                    return _one_line(OBJECT_REPR.sub("…", f"{line} {following}"))
                return _one_line(OBJECT_REPR.sub("…", line))
    return _one_line(lines[0])
