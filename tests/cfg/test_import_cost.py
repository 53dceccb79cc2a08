"""`import cfg` is cheap: no Django, no app, at most 10 of cfg's own modules. Fresh processes only."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from .conftest import BASE_DIR

MAX_CFG_MODULES = 10


def run_python(*args: str) -> subprocess.CompletedProcess[str]:
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "PYTEST"))}
    return subprocess.run(
        [sys.executable, *args], cwd=BASE_DIR, env=environ, capture_output=True, text=True, timeout=60, check=True
    )


def loaded_after(code: str) -> list[str]:
    script = (
        f"import json, sys\nbefore = set(sys.modules)\n{code}\nprint(json.dumps(sorted(set(sys.modules) - before)))"
    )
    names: list[str] = json.loads(run_python("-c", script).stdout)
    return names


def is_django(name: str) -> bool:
    return name == "django" or name.startswith("django.")


def test_import_cfg_loads_no_django_and_few_cfg_modules() -> None:
    loaded = loaded_after("import cfg")
    assert "cfg" in loaded
    assert [name for name in loaded if is_django(name)] == []
    assert [name for name in loaded if name.split(".")[0] in ("apps", "modules", "config")] == []
    own = [name for name in loaded if name == "cfg" or name.startswith("cfg.")]
    assert len(own) <= MAX_CFG_MODULES, own


def test_building_the_config_still_loads_no_django() -> None:
    loaded = loaded_after(
        "import cfg\nconfig = cfg.DjangoConfig.load('.', environ={'DJANGO_ENV': 'development'})\nassert config.debug"
    )
    assert [name for name in loaded if is_django(name)] == []


def test_importtime_shows_no_django_line() -> None:
    result = run_python("-X", "importtime", "-c", "import cfg")
    rows = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")]
    assert "cfg" in rows
    assert [row for row in rows if is_django(row)] == []


def test_environment_detection_without_pytest() -> None:
    code = (
        "from cfg.environment import detect_environment as d\n"
        "print(d(None, ['manage.py', 'runserver']), d(None, ['manage.py', 'test']), d('prod', ['manage.py', 'test']))"
    )
    assert run_python("-c", code).stdout.split() == ["development", "test", "production"]


# Libraries that only some requests, tasks or commands use: a web process must not import them to start. openpyxl
# only spreadsheet imports and exports use (modules/spreadsheet_formats.py defers tablib's xlsx format).
DENIED = (
    "aiohttp",
    "boto3",
    "botocore",
    "genai_prices",
    "griffe",
    "httpcore",
    "httpcore2",
    "httpx",
    "httpx2",
    "logfire",
    "ngrok",
    "openai",
    "openpyxl",
    "opentelemetry",
    "psycopg_pool",
    "pydantic_ai",
    "pydantic_graph",
    "pypdf",
    "s3transfer",
    "storages",
    "twilio",
)

# argv: the denied top-level names (JSON), then code to run once the process is up. Prints, for each denied module
# loaded, the lines (file:line, innermost first) that imported it first.
WEB_PROCESS = """
import json, os, sys
denied, extra = set(json.loads(sys.argv[1])), sys.argv[2]
importers = {}


class Witness:
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in denied and top not in importers:
            frame, lines = sys._getframe(1), []
            while frame is not None and len(lines) < 8:
                filename = frame.f_code.co_filename
                if not filename.startswith("<") and "/importlib/" not in filename:
                    lines.append(f"{os.path.relpath(filename)}:{frame.f_lineno}")
                frame = frame.f_back
            importers[top] = lines
        return None


sys.meta_path.insert(0, Witness())
import django

django.setup()
import config.asgi
from django.urls import get_resolver

get_resolver().url_patterns  # every view module, as the first request loads them
exec(extra)
print(json.dumps({name: importers.get(name, []) for name in sorted(denied) if name in sys.modules}))
"""


def denied_in_web_process(extra: str = "") -> dict[str, list[str]]:
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "PYTEST"))}
    environ.update(DJANGO_ENV="test", DJANGO_SETTINGS_MODULE="config.settings")
    result = subprocess.run(
        [sys.executable, "-c", WEB_PROCESS, json.dumps(DENIED), extra],
        cwd=BASE_DIR,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    loaded: dict[str, list[str]] = json.loads(result.stdout.strip().splitlines()[-1])
    return loaded


def test_a_web_process_starts_without_the_heavy_clients() -> None:
    loaded = denied_in_web_process()
    report = "\n".join(f"{name}, imported from:\n    " + "\n    ".join(lines) for name, lines in loaded.items())
    assert loaded == {}, f"django.setup(), config.asgi and the URLconf import what only some requests use:\n{report}"


def test_starting_django_imports_only_djangos_own_template_tag_libraries() -> None:
    """Unfold renders a widget as the admin is imported: the form renderer imports no library it does not load."""
    loaded = loaded_after(
        "import os\nos.environ.update(DJANGO_ENV='test', DJANGO_SETTINGS_MODULE='config.settings')\n"
        "import django\ndjango.setup()"
    )
    libraries = [name for name in loaded if ".templatetags." in name]
    assert libraries, "Django's own libraries are expected: the check would see nothing"
    assert [name for name in libraries if not is_django(name)] == []


def test_the_web_process_check_names_a_denied_module_and_its_importer() -> None:
    loaded = denied_in_web_process("from apps.knowbase import url_fetch")
    assert {"httpcore", "httpx"} <= set(loaded)
    assert loaded["httpcore"][0].startswith("apps/knowbase/url_fetch.py:")


def test_the_web_application_starts_with_the_collector_paused_then_on_with_its_objects_frozen() -> None:
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "PYTEST"))}
    environ.update(DJANGO_ENV="test", DJANGO_SETTINGS_MODULE="config.settings")
    script = (
        "import gc, json, sys\n"
        "collections = []\n"
        "gc.callbacks.append(lambda phase, info: phase == 'start' and collections.append(info['generation']))\n"
        "import config.asgi\n"
        "print(json.dumps([len(collections), gc.isenabled(), gc.get_freeze_count()]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=BASE_DIR, env=environ, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-3000:]
    collections, enabled, frozen = json.loads(result.stdout.strip().splitlines()[-1])
    # A few while cfg.startup itself is imported, before the pause; django.setup() alone runs ~100 without it.
    assert collections < 10
    assert enabled
    assert frozen > 100_000


def test_a_paused_collector_is_left_off_when_it_was_off() -> None:
    import gc

    from cfg.startup import collector_paused

    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()
