"""Background tasks on the ReArq backend: enqueue latency, one worker's throughput, worker memory.

    DATA_DIR=/tmp/bench-data .venv/bin/python benchmarks/tasks.py [--tasks 10000] [--redis-url redis://127.0.0.1:6379/11]

Enqueues --tasks no-op tasks on a fresh queue (timing each enqueue: a Redis XADD plus the TaskRun
INSERT), then starts one `rearq_worker` subprocess and waits until every run is SUCCESSFUL.
Throughput is runs / (last finished_at - first started_at). Memory is the worker's resident set
size, sampled while it works. Uses the database of the current configuration (the embedded
server under DATA_DIR by default) and removes its runs and Redis keys afterwards.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--redis-url", default=os.environ.get("TASKS__REDIS_URL", "redis://127.0.0.1:6379/11"))
    options = parser.parse_args()

    queue = f"bench-{uuid.uuid4().hex[:8]}"
    environment = {
        "TASKS__BACKEND": "rearq",
        "TASKS__REDIS_URL": options.redis_url,
        "TASKS__QUEUES": f"default,{queue}",
        "TASKS__CONCURRENCY": str(options.concurrency),
    }
    os.environ.update(environment)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(BASE_DIR))
    os.chdir(BASE_DIR)

    import django

    django.setup()
    import psutil
    from django.core.management import call_command
    from django.db.models import Max, Min
    from rich.console import Console
    from rich.progress import Progress

    from apps.tasks.keys import delay_key, stream_key
    from apps.tasks.models import TaskRun
    from apps.tasks.probes import noop
    from apps.tasks.queue import client_for

    console = Console()
    call_command("migrate", verbosity=0)
    redis = client_for(options.redis_url)
    redis.ping()
    task = noop.using(queue_name=queue)
    task.enqueue()  # warm up connections; not measured
    TaskRun.objects.filter(queue=queue).delete()
    redis.delete(stream_key(queue))

    latencies: list[float] = []
    with Progress(console=console, transient=True) as progress:
        bar = progress.add_task(f"enqueueing {options.tasks} no-op tasks", total=options.tasks)
        for _ in range(options.tasks):
            started = time.perf_counter()
            task.enqueue()
            latencies.append((time.perf_counter() - started) * 1000)
            progress.advance(bar)

    worker = subprocess.Popen(
        [sys.executable, "manage.py", "rearq_worker", "--queue", queue, "--concurrency", str(options.concurrency)],
        cwd=BASE_DIR,
        env={**os.environ, **environment},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    process = psutil.Process(worker.pid)
    peak_rss = 0
    try:
        with Progress(console=console, transient=True) as progress:
            bar = progress.add_task("worker running them", total=options.tasks)
            done = 0
            while done < options.tasks:
                if worker.poll() is not None:
                    console.print(f"[red]the worker exited with {worker.returncode}[/]")
                    return 1
                peak_rss = max(peak_rss, process.memory_info().rss)
                done = TaskRun.objects.filter(queue=queue, status="SUCCESSFUL").count()
                progress.update(bar, completed=done)
                time.sleep(0.5)
        end_rss = process.memory_info().rss
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
        span = TaskRun.objects.filter(queue=queue).aggregate(first=Min("started_at"), last=Max("finished_at"))
        seconds = (span["last"] - span["first"]).total_seconds()
    finally:
        if worker.poll() is None:
            worker.kill()
        TaskRun.objects.filter(queue=queue).delete()
        redis.delete(stream_key(queue), delay_key(queue))

    console.print(f"tasks: {options.tasks} no-op, one worker, concurrency {options.concurrency}")
    console.print(
        f"enqueue latency: p50 {percentile(latencies, 0.5):.2f} ms, p99 {percentile(latencies, 0.99):.2f} ms "
        f"(mean {statistics.fmean(latencies):.2f} ms)"
    )
    rate = options.tasks / seconds
    console.print(f"throughput: {rate:.0f} tasks/s ({seconds:.1f} s from first start to last finish)")
    console.print(f"worker memory: peak RSS {peak_rss / 2**20:.0f} MiB, at the end {end_rss / 2**20:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
