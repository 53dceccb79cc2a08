"""The Celery side of benchmarks/tasks.py: a no-op task, the timing of its enqueues, and the worker's own record of
when its runs started and finished. It runs in the Celery venv (.venv-benchmark, requirements/benchmark.txt) and
never imports Django.

    .venv-benchmark/bin/python benchmarks/celery_noop.py enqueue N      prints the N enqueue latencies (ms) as JSON
    .venv-benchmark/bin/python -m celery -A celery_noop worker ...      (from benchmarks/) runs them

Set by benchmarks/tasks.py in the environment: CELERY_NOOP_BROKER (the Redis URL), CELERY_NOOP_QUEUE (the queue;
every Redis key of the run starts with "<queue>:", kombu's global key prefix, so the run can delete exactly its
keys), and for the worker CELERY_NOOP_EXPECT and CELERY_NOOP_REPORT: after that many runs the worker writes
{"runs", "first_started", "last_finished"} (epoch seconds) as JSON to that path.

The app is Celery's defaults but for what the comparison asks for: no result backend and results ignored, no
task events, no remote control (its pidbox and fanout keys would be shared with any other Celery app on the same
Redis database).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from celery import Celery, signals  # type: ignore[import-not-found]  # in .venv-benchmark only

QUEUE = os.environ["CELERY_NOOP_QUEUE"]

app = Celery("celery_noop", broker=os.environ["CELERY_NOOP_BROKER"])
app.conf.update(
    task_default_queue=QUEUE,
    task_ignore_result=True,
    result_backend=None,
    worker_send_task_events=False,
    task_send_sent_event=False,
    worker_enable_remote_control=False,
    broker_connection_retry_on_startup=True,
    broker_transport_options={"global_keyprefix": f"{QUEUE}:"},
)


def do_nothing() -> None:
    """Like apps.tasks.probes.noop."""


noop = app.task(name="noop")(do_nothing)


class RunClock:
    """When the first run started and the last one finished, counted by the worker's task_prerun and task_postrun
    signals (the task itself stays a no-op). Threads of the pool call it at once, hence the lock."""

    def __init__(self, expected: int, report: Path) -> None:
        self.expected = expected
        self.report = report
        self.lock = threading.Lock()
        self.first_started: float | None = None
        self.runs = 0

    def started(self, **_: Any) -> None:
        if self.first_started is None:
            with self.lock:
                if self.first_started is None:
                    self.first_started = time.time()

    def finished(self, **_: Any) -> None:
        now = time.time()
        with self.lock:
            self.runs += 1
            if self.runs != self.expected:
                return
        written = self.report.with_suffix(".tmp")
        written.write_text(json.dumps({"runs": self.runs, "first_started": self.first_started, "last_finished": now}))
        written.replace(self.report)


if "CELERY_NOOP_REPORT" in os.environ:
    clock = RunClock(int(os.environ["CELERY_NOOP_EXPECT"]), Path(os.environ["CELERY_NOOP_REPORT"]))
    signals.task_prerun.connect(clock.started, weak=False)
    signals.task_postrun.connect(clock.finished, weak=False)


def enqueue(count: int) -> list[float]:
    """The latency of each of `count` apply_async calls, in ms, after one warm-up call (the broker connection and
    the queue's binding), whose message is purged."""
    noop.apply_async()
    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge(QUEUE)
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        noop.apply_async()
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "enqueue":
        sys.exit(f"usage: {sys.argv[0]} enqueue N")
    print(json.dumps(enqueue(int(sys.argv[2]))))
