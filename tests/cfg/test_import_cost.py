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
