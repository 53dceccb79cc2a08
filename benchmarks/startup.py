"""Start-up cost, as medians over fresh processes, against a bare `django-admin startproject` project (written to a
temporary folder, its settings untouched) measured in the same run:

- `import cfg`, importing config.config, loading the config and building the settings;
- `manage.py check`, ours and the bare project's, and their ratio (goal: at most 1.5 times the bare project's);
- importing the ASGI application (`config.asgi`; goal: at most 0.45 s), and the bare project's `bare.asgi`;
- a web worker's resident size (RSS) once its ASGI application is imported and has answered one request in-process,
  ours and the bare project's, and their ratio (goal: at most 1.2 times). The request is the same for both, a GET of
  a path neither project serves: it runs the middleware, loads the whole URLconf (every view module) and answers 404;
- the task worker's resident size, idle: `manage.py rearq_worker` (the ReArq backend, on a queue of its own that no
  task is sent to) WORKER_IDLE_SECONDS after it started, its system checks run (goal: at most 100 MB). It needs a
  Redis: --redis-url, else TASKS__REDIS_URL or REDIS_URL from the environment; without one it is not measured (the
  benchmark picks no database of its own). It writes nothing there: an idle worker only reads its empty queue.

A third project, "the stack alone", tells the cost of the packages from the cost of our code: the same bare project
with the third-party apps we install (Unfold, DRF, simplejwt and its blacklist, drf-spectacular, corsheaders, constance,
import-export, axes, django.contrib.postgres), their middleware and settings, the PostgreSQL backend, and a URLconf of
the admin, the OpenAPI schema and simplejwt's views; none of our code, no configuration model. Its ratio to the bare
project is the floor that no change to our code can go under.

The three projects run with the caller's environment less its DJANGO_* variables; ours with DJANGO_ENV=development.

    .venv/bin/python benchmarks/startup.py [--runs 7] [--redis-url redis://127.0.0.1:6379/15]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import BASE_DIR, stop

CHECK_RATIO_GOAL = 1.5
ASGI_IMPORT_GOAL_MS = 450.0
RSS_RATIO_GOAL = 1.2
WORKER_RSS_GOAL_MB = 100.0
WORKER_IDLE_SECONDS = 5.0
WARM_UP_PATH = "/startup-benchmark-warm-up/"

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

# argv: the ASGI module, the path to GET. Prints the import's time, the RSS after it and after the request.
ASGI_WORKER = """
import asyncio, importlib, json, os, sys, time
sys.path.insert(0, os.getcwd())
module, path = sys.argv[1], sys.argv[2]

def rss_kb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))

started = time.perf_counter()
application = importlib.import_module(module).application
imported_ms = (time.perf_counter() - started) * 1000
imported_rss = rss_kb()

async def get():
    scope = {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"localhost"), (b"accept", b"application/json")],
        "client": ("127.0.0.1", 50000), "server": ("localhost", 80),
    }
    messages = []
    bodies = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive():
        if bodies:
            return bodies.pop()
        await asyncio.Event().wait()  # the client stays connected: the handler stops listening once it has answered

    async def send(message):
        messages.append(message)

    await application(scope, receive, send)
    return next(message["status"] for message in messages if message["type"] == "http.response.start")

status = asyncio.run(get())
print(json.dumps({"import_ms": imported_ms, "imported_rss_kb": imported_rss, "rss_kb": rss_kb(), "status": status,
                  "modules": len(sys.modules)}))
"""


STACK_SETTINGS = """
from .settings import *  # noqa: F403

INSTALLED_APPS = [
    "unfold", "unfold.contrib.filters", "unfold.contrib.forms", "unfold.contrib.import_export",
    "unfold.contrib.constance", *INSTALLED_APPS, "django.contrib.postgres",  # noqa: F405
    "rest_framework", "rest_framework_simplejwt", "rest_framework_simplejwt.token_blacklist", "drf_spectacular",
    "drf_spectacular_sidecar", "corsheaders", "constance", "import_export", "axes",
]
MIDDLEWARE = ["corsheaders.middleware.CorsMiddleware", *MIDDLEWARE, "axes.middleware.AxesMiddleware"]  # noqa: F405
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "stack", "HOST": "127.0.0.1"}}
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework_simplejwt.authentication.JWTAuthentication"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
CONSTANCE_CONFIG = {"SITE_NAME": ("Stack", "The site's name")}
ROOT_URLCONF = "bare.stack_urls"
"""

STACK_URLS = """
from django.contrib import admin
from django.urls import path
from drf_spectacular.views import SpectacularAPIView
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view()),
    path("api/token/", TokenObtainPairView.as_view()),
    path("api/token/refresh/", TokenRefreshView.as_view()),
]
"""

STACK_ASGI = """
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bare.stack_settings")
application = get_asgi_application()
"""


def write_stack_project(bare: Path) -> None:
    """The bare project's package gains stack_settings, stack_urls and stack_asgi (see the module's docstring)."""
    package = bare / "bare"
    (package / "stack_settings.py").write_text(STACK_SETTINGS)
    (package / "stack_urls.py").write_text(STACK_URLS)
    (package / "stack_asgi.py").write_text(STACK_ASGI)


def stack_env() -> dict[str, str]:
    return clean_env(DJANGO_SETTINGS_MODULE="bare.stack_settings")


def clean_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO")}
    env.update(extra)
    return env


def our_env() -> dict[str, str]:
    return clean_env(DJANGO_ENV="development")


def run_json(code: str, *args: str, cwd: Path = BASE_DIR, env: dict[str, str] | None = None) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        env=env if env is not None else our_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    figures: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    return figures


def wall(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, capture_output=True, check=True)
    return (time.perf_counter() - started) * 1000


def worker_redis_url(option: str | None) -> str | None:
    return option or os.environ.get("TASKS__REDIS_URL") or os.environ.get("REDIS_URL") or None


def idle_worker_rss_mb(redis_url: str) -> float:
    """The task worker's RSS (with its children's), WORKER_IDLE_SECONDS after its start, then it is stopped."""
    import psutil

    queue = f"startup-benchmark-{secrets.token_hex(4)}"
    env = our_env()
    env.update(TASKS__BACKEND="rearq", TASKS__REDIS_URL=redis_url, TASKS__QUEUES=f"default,{queue}")
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "rearq_worker", "--queue", queue],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        time.sleep(WORKER_IDLE_SECONDS)
        if worker.poll() is not None:
            error = worker.stderr.read().decode() if worker.stderr else ""
            raise RuntimeError(f"the worker exited with {worker.returncode}: {error[-2000:]}")
        process = psutil.Process(worker.pid)
        rss: int = sum(member.memory_info().rss for member in [process, *process.children(recursive=True)])
    finally:
        stop(worker)
    return rss / 1024 / 1024


def median(values: list[float]) -> float:
    return statistics.median(values)


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--redis-url", help="Redis for the task worker (default: TASKS__REDIS_URL, else REDIS_URL)")
    arguments = parser.parse_args()
    runs = arguments.runs
    redis_url = worker_redis_url(arguments.redis_url)

    with tempfile.TemporaryDirectory() as tmp:
        bare = Path(tmp)
        subprocess.run([sys.executable, "-m", "django", "startproject", "bare", str(bare)], check=True)
        write_stack_project(bare)
        imports = [run_json(IMPORT_CFG) for _ in range(runs)]
        builds = [run_json(BUILD_SETTINGS) for _ in range(runs)]
        # Ours and the bare project alternate, so that a change in the machine's load touches both alike.
        check: list[float] = []
        floor: list[float] = []
        stack_check: list[float] = []
        workers: list[dict[str, float]] = []
        bare_workers: list[dict[str, float]] = []
        stack_workers: list[dict[str, float]] = []
        for _ in range(runs):
            check.append(wall([sys.executable, "manage.py", "check"], BASE_DIR, our_env()))
            floor.append(wall([sys.executable, "manage.py", "check"], bare, clean_env()))
            stack_check.append(wall([sys.executable, "manage.py", "check"], bare, stack_env()))
            workers.append(run_json(ASGI_WORKER, "config.asgi", WARM_UP_PATH))
            bare_workers.append(run_json(ASGI_WORKER, "bare.asgi", WARM_UP_PATH, cwd=bare, env=clean_env()))
            stack_workers.append(run_json(ASGI_WORKER, "bare.stack_asgi", WARM_UP_PATH, cwd=bare, env=stack_env()))
        task_workers = [idle_worker_rss_mb(redis_url) for _ in range(runs)] if redis_url else []

    def figure(results: list[dict[str, float]], key: str) -> float:
        return median([result[key] for result in results])

    print(f"runs per figure: {runs} fresh processes (medians)")
    print(
        f"import cfg:                 {median([r['ms'] for r in imports]):7.1f} ms, "
        f"{int(median([r['cfg_modules'] for r in imports]))} cfg modules, "
        f"{int(median([r['modules'] for r in imports]))} modules in all, "
        f"django imported: {any(r['django'] for r in imports)}"
    )
    print(f"import config.config:       {figure(builds, 'import_ms'):7.1f} ms (models + first load)")
    print(f"ProjectConfig.load() again: {figure(builds, 'load_ms'):7.1f} ms")
    settings_count = int(figure(builds, "keys"))
    print(f"get_all_settings():         {figure(builds, 'settings_ms'):7.1f} ms ({settings_count} settings)")

    check_ratio = median(check) / median(floor)
    print(f"manage.py check (project):  {median(check):7.1f} ms wall")
    print(f"manage.py check (bare startproject): {median(floor):7.1f} ms wall")
    check_met = verdict(check_ratio <= CHECK_RATIO_GOAL)
    print(f"   ours/bare: {check_ratio:.2f}x; goal at most {CHECK_RATIO_GOAL:g}x: {check_met}")
    stack_ratio = median(stack_check) / median(floor)
    print(
        f"manage.py check (the stack alone): {median(stack_check):7.1f} ms wall, {stack_ratio:.2f}x bare "
        f"(the floor for our project; ours is {median(check) / median(stack_check):.2f}x the stack alone)"
    )

    asgi_ms = figure(workers, "import_ms")
    print(
        f"import config.asgi:         {asgi_ms:7.1f} ms (django.setup() and the settings included; "
        f"goal at most {ASGI_IMPORT_GOAL_MS:g} ms: {verdict(asgi_ms <= ASGI_IMPORT_GOAL_MS)})"
    )
    print(f"import bare.asgi:           {figure(bare_workers, 'import_ms'):7.1f} ms")
    print(f"import the stack alone's asgi: {figure(stack_workers, 'import_ms'):7.1f} ms")

    statuses = sorted({int(r["status"]) for r in workers}), sorted({int(r["status"]) for r in bare_workers})
    rss, bare_rss = figure(workers, "rss_kb") / 1024, figure(bare_workers, "rss_kb") / 1024
    rss_ratio = rss / bare_rss
    print(
        f"web worker RSS, ASGI app imported then one GET {WARM_UP_PATH} (status ours {statuses[0]}, "
        f"bare {statuses[1]}):"
    )
    print(
        f"   ours: {rss:6.1f} MB ({figure(workers, 'imported_rss_kb') / 1024:.1f} MB before the request, "
        f"{int(figure(workers, 'modules'))} modules)"
    )
    print(
        f"   bare: {bare_rss:6.1f} MB ({figure(bare_workers, 'imported_rss_kb') / 1024:.1f} MB before the request, "
        f"{int(figure(bare_workers, 'modules'))} modules)"
    )
    print(f"   ours/bare: {rss_ratio:.2f}x; goal at most {RSS_RATIO_GOAL:g}x: {verdict(rss_ratio <= RSS_RATIO_GOAL)}")
    stack_rss = figure(stack_workers, "rss_kb") / 1024
    print(
        f"   the stack alone: {stack_rss:6.1f} MB ({int(figure(stack_workers, 'modules'))} modules, status "
        f"{sorted({int(r['status']) for r in stack_workers})}): {stack_rss / bare_rss:.2f}x bare, the floor; "
        f"ours is {rss / stack_rss:.2f}x the stack alone"
    )
    if task_workers:
        worker_rss = median(task_workers)
        print(
            f"task worker RSS, idle {WORKER_IDLE_SECONDS:g} s after its start: {worker_rss:6.1f} MB "
            f"(goal at most {WORKER_RSS_GOAL_MB:g} MB: {verdict(worker_rss <= WORKER_RSS_GOAL_MB)})"
        )
    else:
        print("task worker RSS: not measured (no Redis: pass --redis-url or set TASKS__REDIS_URL or REDIS_URL)")


if __name__ == "__main__":
    main()
