"""Background tasks: our worker (the ReArq backend) beside Celery's, on the same Redis: enqueue latency, one worker's
throughput, the worker's memory.

    DATA_DIR=/tmp/tasks-bench-data .venv/bin/python benchmarks/tasks.py [--tasks 10000] [--concurrency 10]
        [--rounds 1] [--redis-url redis://127.0.0.1:6379/15]

Celery (requirements/benchmark.txt) runs from a virtualenv of its own, as its Redis client cannot share the project's
(kombu[redis] needs redis>=6.4, rearq pins 4.6). Without it only ours is measured; to install it:

    .venv/bin/python -m venv .venv-benchmark
    .venv-benchmark/bin/python -m pip install -r requirements/benchmark.txt

Redis: --redis-url, else the one the project's tasks use (TASKS__REDIS_URL, else REDIS_URL, from the environment,
else from .env); without any, the run stops: it picks no database of its own. Both systems get fresh random queues
on it, and every key they created is deleted afterwards (never FLUSHDB): ours under the queue's name, Celery's under
kombu's global key prefix "<queue>:".

Settings: DJANGO_ENV=production (DEBUG off), for this process (which enqueues ours) and our worker alike, on a fresh
database of the embedded PostgreSQL under DATA_DIR (dropped afterwards). REDIS_URL is not passed on: the cache and
events stay in memory, and only the tasks use Redis, as only the broker does for Celery.

For each system, in each round:
1. Enqueue latency: --tasks enqueues of a no-op task, each timed, after one warm-up. Ours: `task.enqueue()` (a Redis
   XADD and the TaskRun INSERT) in this process; Celery's: `noop.apply_async()` (an LPUSH, no result backend) in a
   process of the Celery venv (benchmarks/celery_noop.py).
2. Throughput: one worker started on the queued tasks, with --concurrency: ours `manage.py rearq_worker`, Celery's
   `celery worker --pool threads` (without gossip, mingle, heartbeat and remote control: one worker needs none).
   Runs / (last finish - first start), so neither worker's start-up counts. Ours from TaskRun (started_at and
   finished_at, once every run is SUCCESSFUL in PostgreSQL); Celery's from the worker's own task_prerun and
   task_postrun signals (the task stays a no-op), after which the queue is checked empty with nothing unacked.
3. Memory: the worker's resident set (its children included), sampled every quarter second while it works: the
   peak, and at the end (every run done).
Rounds alternate which system goes first; with --rounds above 1, the summary shows the medians of the rounds.
Goals (issue 17) for ours: at least 1,000 tasks/s, enqueue p50 at most 0.5 ms, worker RSS at most 100 MB.
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
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import BASE_DIR, production_project, stop

CELERY_VENV = BASE_DIR / ".venv-benchmark"
INSTALL_CELERY = (
    ".venv/bin/python -m venv .venv-benchmark && "
    ".venv-benchmark/bin/python -m pip install -r requirements/benchmark.txt"
)
THROUGHPUT_GOAL = 1000.0
ENQUEUE_P50_GOAL_MS = 0.5
RSS_GOAL_MB = 100.0
MB = 1_000_000
SAMPLE_SECONDS = 0.25
# Progress bars on a terminal only: written to a file, they leave blank lines.
INTERACTIVE = sys.stdout.isatty()
# A worker that finishes no task for this long is taken as stuck.
STALL_SECONDS = 120.0


class BenchmarkFailed(Exception):
    """A measured system could not finish its run (its worker exited or stalled): the message says which."""


@dataclass
class Measures:
    latencies: list[float]
    runs: int
    seconds: float
    peak_rss: int
    end_rss: int

    @property
    def enqueue_p50(self) -> float:
        return percentile(self.latencies, 0.5)

    @property
    def enqueue_p99(self) -> float:
        return percentile(self.latencies, 0.99)

    @property
    def throughput(self) -> float:
        return self.runs / self.seconds


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def task_redis_url(option: str | None) -> tuple[str, str]:
    """The Redis of the run and where it came from."""
    if option:
        return option, "--redis-url"
    for name in ("TASKS__REDIS_URL", "REDIS_URL"):
        if os.environ.get(name):
            return os.environ[name], name
    # Read in a process of its own: importing config.config here would fix the settings before production's.
    configured = subprocess.run(
        [sys.executable, "-c", "from config.config import config; print(config.tasks_redis_url or '')"],
        cwd=BASE_DIR, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if configured.returncode == 0 and configured.stdout.strip():
        return configured.stdout.strip(), "the project's configuration"
    sys.exit("No Redis to run on: pass --redis-url or set REDIS_URL (the benchmark picks no database of its own).")


def celery_interpreter(option: str | None, without: bool) -> Path | None:
    """The Python of the Celery venv, or None when Celery is not to be (or cannot be) run."""
    if without:
        return None
    python = Path(option) if option else CELERY_VENV / "bin" / "python"
    importable = python.exists() and not subprocess.run([python, "-c", "import celery"], capture_output=True).returncode
    if not importable and option:
        sys.exit(f"{python} cannot import celery; install it with: {INSTALL_CELERY}")
    return python if importable else None


def resident_memory(process: Any) -> int:
    """The resident set of a process and its children, in bytes (psutil.Process)."""
    import psutil

    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return int(total)


def watch(worker: subprocess.Popen[bytes], total: int, done: Callable[[], int], label: str) -> tuple[int, int]:
    """Waits until `done()` reaches `total`, sampling the worker's memory: its peak and final RSS."""
    import psutil
    from rich.progress import Progress

    process = psutil.Process(worker.pid)
    peak = 0
    finished, progressed_at = 0, time.monotonic()
    with Progress(transient=True, disable=not INTERACTIVE) as progress:
        bar = progress.add_task(label, total=total)
        while True:
            if worker.poll() is not None:
                raise BenchmarkFailed(f"the worker exited with {worker.returncode}")
            peak = max(peak, resident_memory(process))
            count = done()
            if count != finished:
                finished, progressed_at = count, time.monotonic()
                progress.update(bar, completed=count)
            if count >= total:
                break
            if time.monotonic() - progressed_at > STALL_SECONDS:
                raise BenchmarkFailed(f"the worker finished nothing for {STALL_SECONDS:.0f} s ({count} of {total})")
            time.sleep(SAMPLE_SECONDS)
    end = resident_memory(process)
    return max(peak, end), end


def delete_keys(redis: Any, pattern: str) -> None:
    keys = list(redis.scan_iter(match=pattern, count=1000))
    if keys:
        redis.delete(*keys)


def failing_log(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:] if log.exists() else ""


def run_ours(queue: str, options: argparse.Namespace, redis: Any, logs: Path) -> Measures:
    from django.db.models import Max, Min
    from rich.progress import track

    from apps.tasks.keys import WORKER_KEY
    from apps.tasks.models import TaskRun
    from apps.tasks.probes import noop

    task = noop.using(queue_name=queue)
    task.enqueue()  # warm-up: connections and the first INSERT; removed below
    clear_ours(queue, redis)
    latencies: list[float] = []
    enqueues = range(options.tasks)
    for _ in track(enqueues, f"ours: enqueueing {options.tasks} no-op tasks", transient=True, disable=not INTERACTIVE):
        started = time.perf_counter()
        task.enqueue()
        latencies.append((time.perf_counter() - started) * 1000)

    log = logs / "rearq_worker.log"
    with log.open("wb") as output:
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "rearq_worker", "--queue", queue, "--concurrency", str(options.concurrency)],
            cwd=BASE_DIR, env=dict(os.environ), stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        successful = TaskRun.objects.filter(queue=queue, status="SUCCESSFUL")
        peak_rss, end_rss = watch(worker, options.tasks, successful.count, "ours: the worker running them")
    except BenchmarkFailed as failure:
        raise BenchmarkFailed(f"ours: {failure}\n{failing_log(log)}") from None
    finally:
        stop(worker)
        # The worker leaves the registry when it stops; one that was killed would stay in it.
        for worker_id, info in redis.hgetall(WORKER_KEY).items():
            if queue in json.loads(info).get("queues", []):
                redis.hdel(WORKER_KEY, worker_id)
    span = TaskRun.objects.filter(queue=queue).aggregate(first=Min("started_at"), last=Max("finished_at"))
    clear_ours(queue, redis)
    return Measures(latencies, options.tasks, (span["last"] - span["first"]).total_seconds(), peak_rss, end_rss)


def clear_ours(queue: str, redis: Any) -> None:
    from apps.tasks.models import TaskRun

    TaskRun.objects.filter(queue=queue).delete()
    delete_keys(redis, f"*{queue}*")


def run_celery(python: Path, queue: str, options: argparse.Namespace, redis: Any, logs: Path) -> Measures:
    from rich.console import Console

    report = logs / "celery-runs.json"
    report.unlink(missing_ok=True)
    environ = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", ""),
        "CELERY_NOOP_BROKER": options.redis_url,
        "CELERY_NOOP_QUEUE": queue,
    }
    module = Path(__file__).with_name("celery_noop.py")
    with Console(quiet=not INTERACTIVE).status(f"Celery: enqueueing {options.tasks} no-op tasks"):
        enqueued = subprocess.run(
            [python, module, "enqueue", str(options.tasks)], env=environ, capture_output=True, text=True, check=False
        )
    if enqueued.returncode != 0:
        raise BenchmarkFailed(f"Celery: enqueueing failed:\n{enqueued.stderr[-3000:]}")
    latencies = [float(value) for value in json.loads(enqueued.stdout.splitlines()[-1])]

    log = logs / "celery_worker.log"
    command = [
        str(python), "-m", "celery", "--app", "celery_noop", "worker", "--pool", "threads",
        "--concurrency", str(options.concurrency), "--queues", queue, "--loglevel", "WARNING",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    worker_environ = {**environ, "CELERY_NOOP_EXPECT": str(options.tasks), "CELERY_NOOP_REPORT": str(report)}
    with log.open("wb") as output:
        worker = subprocess.Popen(
            command, cwd=module.parent, env=worker_environ, stdout=output, stderr=subprocess.STDOUT
        )
    prefix, total = f"{queue}:", int(options.tasks)

    def finished() -> int:
        # The worker's report is the count; until it is written, the tasks no longer waiting show the progress.
        return total if report.exists() else total - int(redis.llen(prefix + queue))

    try:
        peak_rss, end_rss = watch(worker, options.tasks, finished, "Celery: the worker running them")
        left, unacked = int(redis.llen(prefix + queue)), int(redis.hlen(prefix + "unacked"))
        if left or unacked:
            raise BenchmarkFailed(f"the worker reported every run, yet {left} are waiting and {unacked} unacked")
    except BenchmarkFailed as failure:
        raise BenchmarkFailed(f"Celery: {failure}\n{failing_log(log)}") from None
    finally:
        stop(worker)
        delete_keys(redis, f"{prefix}*")
    runs = json.loads(report.read_text())
    return Measures(latencies, runs["runs"], runs["last_finished"] - runs["first_started"], peak_rss, end_rss)


def medians(rounds: list[Measures]) -> dict[str, float]:
    """The median of each measure over the rounds; memory in MB."""

    def median(name: str, scale: float = 1) -> float:
        return statistics.median(float(getattr(measures, name)) / scale for measures in rounds)

    return {
        "enqueue_p50": median("enqueue_p50"),
        "enqueue_p99": median("enqueue_p99"),
        "throughput": median("throughput"),
        "peak_rss": median("peak_rss", MB),
        "end_rss": median("end_rss", MB),
    }


def round_table(number: int, results: dict[str, Measures]) -> Any:
    from rich.table import Table

    table = Table(title=f"round {number}", title_justify="left")
    for column in ("", "enqueue p50", "enqueue p99", "throughput", "first start to last finish", "peak RSS", "end RSS"):
        table.add_column(column, justify="right" if column else "left")
    for system, measures in results.items():
        table.add_row(
            system,
            f"{measures.enqueue_p50:.3f} ms",
            f"{measures.enqueue_p99:.3f} ms",
            f"{measures.throughput:,.0f} tasks/s",
            f"{measures.seconds:.2f} s",
            f"{measures.peak_rss / MB:.0f} MB",
            f"{measures.end_rss / MB:.0f} MB",
        )
    return table


def summary_table(title: str, ours: dict[str, float], celery: dict[str, float] | None) -> Any:
    from rich.table import Table

    rows = [
        ("enqueue p50", "enqueue_p50", "{:.3f} ms", f"<= {ENQUEUE_P50_GOAL_MS} ms",
         ours["enqueue_p50"] <= ENQUEUE_P50_GOAL_MS),
        ("enqueue p99", "enqueue_p99", "{:.3f} ms", "", None),
        ("throughput", "throughput", "{:,.0f} tasks/s", f">= {THROUGHPUT_GOAL:,.0f} tasks/s",
         ours["throughput"] >= THROUGHPUT_GOAL),
        ("worker peak RSS", "peak_rss", "{:.0f} MB", f"<= {RSS_GOAL_MB:.0f} MB", ours["peak_rss"] <= RSS_GOAL_MB),
        ("worker RSS at the end", "end_rss", "{:.0f} MB", f"<= {RSS_GOAL_MB:.0f} MB", ours["end_rss"] <= RSS_GOAL_MB),
    ]  # fmt: skip
    table = Table(title=title, title_justify="left")
    table.add_column("")
    table.add_column("ours", justify="right")
    if celery is not None:
        table.add_column("Celery", justify="right")
        table.add_column("ours / Celery", justify="right")
    table.add_column("goal for ours")
    table.add_column("")
    for label, key, shown, goal, met in rows:
        cells = [label, shown.format(ours[key])]
        if celery is not None:
            cells += [shown.format(celery[key]), f"{ours[key] / celery[key]:.2f}"]
        cells += [goal, "" if met is None else "[green]met[/]" if met else "[red]missed[/]"]
        table.add_row(*cells)
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=10_000, help="no-op tasks per system and round (default 10,000)")
    parser.add_argument("--concurrency", type=int, default=10, help="tasks each worker runs at once (default 10)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds, alternating which system goes first")
    parser.add_argument("--redis-url", help="default: TASKS__REDIS_URL, else REDIS_URL, else the project's .env")
    parser.add_argument("--celery-python", help=f"the Celery venv's Python (default {CELERY_VENV}/bin/python)")
    parser.add_argument("--without-celery", action="store_true", help="measure ours only")
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("DATA_DIR") or str(BASE_DIR / ".data"),
        help="where the embedded PostgreSQL keeps its data (default: DATA_DIR or .data)",
    )
    options = parser.parse_args()
    if options.tasks < 1 or options.concurrency < 1 or options.rounds < 1:
        parser.error("--tasks, --concurrency and --rounds must be at least 1")
    options.redis_url, redis_source = task_redis_url(options.redis_url)
    celery_python = celery_interpreter(options.celery_python, options.without_celery)

    suffix = uuid.uuid4().hex[:8]
    our_queue, celery_queue = f"ours-bench-{suffix}", f"celery-bench-{suffix}"
    os.environ.pop("REDIS_URL", None)
    tasks_environ = {
        "TASKS__BACKEND": "rearq",
        "TASKS__REDIS_URL": options.redis_url,
        "TASKS__QUEUES": f"default,{our_queue}",
        "TASKS__CONCURRENCY": str(options.concurrency),
    }
    with production_project(Path(options.data_dir).resolve(), "tasks_bench", **tasks_environ):
        from django.conf import settings
        from rich.console import Console

        from apps.tasks.queue import client_for
        from cfg.introspection import mask_url_password

        # Wide enough for the tables when the output goes to a file.
        console = Console(width=None if INTERACTIVE else 120)
        console.print(
            f"{options.tasks:,} no-op tasks per system and round, one worker with concurrency {options.concurrency}, "
            f"{options.rounds} round(s); Redis {mask_url_password(options.redis_url)} (from {redis_source}); "
            f"DEBUG {settings.DEBUG} (DJANGO_ENV=production: this process, which enqueues ours, and our worker); "
            f"{os.cpu_count()} CPUs shared by the workers, the enqueuers and Redis"
        )
        if options.without_celery:
            console.print("Celery is left out (--without-celery).")
        elif celery_python is None:
            console.print(f"Celery is not installed, so only ours is measured; to compare: {INSTALL_CELERY}")
        redis = client_for(options.redis_url)
        redis.ping()
        ours: list[Measures] = []
        celery: list[Measures] = []
        try:
            with tempfile.TemporaryDirectory(prefix="tasks-bench-") as logs:
                for number in range(1, options.rounds + 1):
                    systems = ["ours", "Celery"] if number % 2 else ["Celery", "ours"]
                    results: dict[str, Measures] = {}
                    for system in systems:
                        if system == "ours":
                            results[system] = run_ours(our_queue, options, redis, Path(logs))
                            ours.append(results[system])
                        elif celery_python is not None:
                            results[system] = run_celery(celery_python, celery_queue, options, redis, Path(logs))
                            celery.append(results[system])
                    console.print(round_table(number, results))
        except BenchmarkFailed as failure:
            console.print(f"[red]{failure}[/]")
            return 1
        finally:
            delete_keys(redis, f"*{our_queue}*")
            redis.close()
    title = "medians of the rounds" if options.rounds > 1 else "summary"
    console.print(summary_table(title, medians(ours), medians(celery) if celery else None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
