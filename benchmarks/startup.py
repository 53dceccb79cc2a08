"""Start-up cost, as medians over fresh processes: `import cfg`, building settings, `manage.py check`,
and the same check for a bare `django-admin startproject` as the floor.

    .venv/bin/python benchmarks/startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

IMPORT_CFG = """
import sys, time, json
before = set(sys.modules)
started = time.perf_counter()
import cfg
elapsed = (time.perf_counter() - started) * 1000
loaded = set(sys.modules) - before
print(json.dumps({"ms": elapsed, "cfg_modules": len([m for m in loaded if m == "cfg" or m.startswith("cfg.")]),
                  "modules": len(loaded), "django": any(m.startswith("django") for m in loaded)}))
"""

BUILD_SETTINGS = """
import json, time
from pathlib import Path
started = time.perf_counter()
from config.config import ProjectConfig
imported = time.perf_counter()
config = ProjectConfig.load(Path.cwd())
loaded = time.perf_counter()
settings = config.get_all_settings()
done = time.perf_counter()
print(json.dumps({"import_ms": (imported - started) * 1000, "load_ms": (loaded - imported) * 1000,
                  "settings_ms": (done - loaded) * 1000, "keys": len(settings)}))
"""


def clean_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO")}
    env["DJANGO_ENV"] = "development"
    return env


def run_json(code: str) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, env=clean_env(), capture_output=True, text=True, check=True
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def wall(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, capture_output=True, check=True)
    return (time.perf_counter() - started) * 1000


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs

    imports = [run_json(IMPORT_CFG) for _ in range(runs)]
    builds = [run_json(BUILD_SETTINGS) for _ in range(runs)]
    check = [wall([sys.executable, "manage.py", "check"], BASE_DIR, clean_env()) for _ in range(runs)]
    with tempfile.TemporaryDirectory() as tmp:
        bare = Path(tmp)
        subprocess.run([sys.executable, "-m", "django", "startproject", "bare", str(bare)], check=True)
        env = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO")}
        floor = [wall([sys.executable, "manage.py", "check"], bare, env) for _ in range(runs)]

    print(f"runs per figure: {runs} fresh processes (medians)")
    print(
        f"import cfg:                 {median([r['ms'] for r in imports]):7.1f} ms, "
        f"{int(median([r['cfg_modules'] for r in imports]))} cfg modules, "
        f"{int(median([r['modules'] for r in imports]))} modules in all, "
        f"django imported: {any(r['django'] for r in imports)}"
    )
    print(f"import config.config:       {median([r['import_ms'] for r in builds]):7.1f} ms (models + first load)")
    print(f"ProjectConfig.load() again: {median([r['load_ms'] for r in builds]):7.1f} ms")
    print(
        f"get_all_settings():         {median([r['settings_ms'] for r in builds]):7.1f} ms "
        f"({int(median([r['keys'] for r in builds]))} settings)"
    )
    print(f"manage.py check (project):  {median(check):7.1f} ms wall")
    print(f"manage.py check (bare startproject floor): {median(floor):7.1f} ms wall")


if __name__ == "__main__":
    main()
