from __future__ import annotations

import asyncio
import logging
import os
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.tasks import task_backends
from redis.exceptions import RedisError
from rich.console import Console

from apps.tasks.backends import ReArqBackend
from cfg.introspection import mask_url_password


class Command(BaseCommand):
    help = "Run the background task worker (Redis queues of the ReArq backend)."
    # As a gunicorn web worker does not: the checks are for deploys and `manage.py check` (CI), and loading
    # what they inspect would cost a long-lived worker ~12 MB and its start a second.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--queue", action="append", dest="queues", help="Queue to consume; repeat for several")
        parser.add_argument("--concurrency", type=int, help="Tasks run at once (default: TASKS__CONCURRENCY)")
        parser.add_argument("--with-timer", action="store_true", help="Also enqueue the periodic (cron) tasks")
        parser.add_argument("--backend", default="default", help="Alias in the TASKS setting")

    def handle(self, *args: Any, **options: Any) -> None:
        backend = task_backends[options["backend"]]
        if not isinstance(backend, ReArqBackend):
            raise CommandError(
                f"TASKS[{options['backend']!r}] uses {type(backend).__name__}, which runs no worker; "
                "set TASKS__BACKEND=rearq and a Redis URL to queue tasks in Redis"
            )
        queues = options["queues"] or sorted(backend.queues) or ["default"]
        unknown = sorted(set(queues) - backend.queues) if backend.queues else []
        if unknown:
            configured = ", ".join(sorted(backend.queues))
            raise CommandError(f"unknown queue(s) {', '.join(unknown)}; configured: {configured}")
        concurrency = options["concurrency"] or backend.concurrency
        if concurrency < 1:
            raise CommandError("--concurrency must be at least 1")
        periodic = settings.TASKS_PERIODIC if options["with_timer"] else {}

        from apps.tasks.worker import Worker

        worker = Worker(
            backend, queues=queues, concurrency=concurrency, with_timer=options["with_timer"], periodic=periodic
        )
        logging.getLogger("apps.tasks").setLevel(logging.INFO)
        if not logging.getLogger("apps.tasks").handlers and not logging.getLogger().handlers:
            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        console = Console(stderr=True)
        timer = f", timer with {len(periodic)} schedule(s)" if options["with_timer"] else ""
        console.print(
            f"[bold]rearq_worker[/] {worker.worker_id}: queues {', '.join(queues)}, concurrency {concurrency}{timer}, "
            f"Redis {mask_url_password(backend.redis_url)}"
        )
        try:
            asyncio.run(worker.run())
        except (RedisError, OSError) as error:
            raise CommandError(
                f"the worker cannot use Redis at {mask_url_password(backend.redis_url)}: {error}"
            ) from error
        counts = worker.counts
        console.print(
            f"rearq_worker {worker.worker_id} stopped: {counts['succeeded']} succeeded, "
            f"{counts['failed']} failed, {counts['retried']} retried"
        )
        if worker.drain_expired:
            # Exit now: waiting for abandoned calls would outlast the orchestrator's grace period.
            left = ", ".join(run.pk for run in worker.abandoned) or "-"
            console.print(
                f"[yellow]rearq_worker: the drain timeout ({backend.drain_timeout} s) ran out; "
                f"{len(worker.abandoned)} running task(s) left to be delivered again: {left}[/]"
            )
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(worker.exit_code)
        stuck = worker.stuck_calls()
        if stuck or worker.exit_code:
            # Their messages stay unacknowledged and are delivered again; waiting for the threads could take forever.
            console.print(
                f"[red]rearq_worker: {len(stuck)} task call(s) ran past the {backend.timeout} s timeout and never "
                "returned; exiting without waiting for them. Give slow calls (HTTP, …) their own timeouts.[/]"
            )
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(worker.exit_code or 1)
