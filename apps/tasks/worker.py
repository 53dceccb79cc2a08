"""The worker: consumes the Redis streams of its queues and runs tasks, at least once.

Per message: claim an attempt in TaskRun (a guarded row lock), run the function (sync ones in a
thread so the ORM is safe, async ones on the loop) under the timeout, record the outcome, then
acknowledge and delete the message. A message is acknowledged only after its outcome is recorded;
if the worker dies first, its lease stops being renewed and another worker claims the message
after `visibility_timeout` (XAUTOCLAIM), recording a new attempt. On SIGTERM it drains for up to
`drain_timeout`, then leaves what still runs unacknowledged, to be delivered again. A worker started
with the timer also sweeps for runs whose message Redis lost (apps.tasks.sweep).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import signal
import socket
import threading
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from inspect import iscoroutinefunction
from secrets import token_hex
from typing import Any
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis
from django.conf import settings
from django.db import close_old_connections
from django.tasks import Task, TaskContext, TaskResultStatus
from django.tasks.base import TaskError
from django.tasks.signals import task_finished, task_started
from django.utils.json import normalize_json
from django.utils.module_loading import import_string
from redis.exceptions import RedisError, ResponseError

from apps.tasks import recorder
from apps.tasks.backends import ReArqBackend
from apps.tasks.batches import GroupCommit
from apps.tasks.exceptions import TaskTimedOut
from apps.tasks.keys import GROUP, PROMOTE_SCRIPT, SWEEP_KEY, WORKER_KEY, cron_slot_key, delay_key, stream_key
from apps.tasks.models import TaskRun
from apps.tasks.sweep import runs_sweep_lost

logger = logging.getLogger("apps.tasks.worker")

PROMOTE_EVERY = 0.25  # seconds between moves of due deferred jobs into the streams
READ_BLOCK_MS = 1000  # how long one read waits for work; bounds how fast a stop request is noticed
CONNECTION_UPKEEP_EVERY = 1.0  # seconds between health checks of a bookkeeping thread's database connection


def error_of(exception: BaseException) -> TaskError:
    kind = type(exception)
    return TaskError(
        exception_class_path=f"{kind.__module__}.{kind.__qualname__}",
        traceback="".join(traceback.format_exception(exception)),
    )


@dataclass
class Outcome:
    status: str
    return_value: Any = None
    error: TaskError | None = None


@dataclass
class Claim:
    stream: str
    message_id: str
    payload: dict[str, Any]


@dataclass
class Started:
    run: TaskRun
    task: Task[Any, Any] | None  # None: the task cannot be loaded (then `error` says why)
    error: TaskError | None = None


@dataclass
class Settlement:
    stream: str
    message_id: str
    payload: dict[str, Any]
    started: Started
    finish: recorder.Finish
    retry_in: int | None


class Worker:
    def __init__(
        self,
        backend: ReArqBackend,
        *,
        queues: list[str],
        concurrency: int | None = None,
        with_timer: bool = False,
        periodic: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.backend = backend
        self.queues = queues
        self.streams = [stream_key(queue) for queue in queues]
        self.concurrency = concurrency or backend.concurrency
        self.with_timer = with_timer
        self.periodic = periodic or {}
        self.worker_id = f"{socket.gethostname()}-{os.getpid()}-{token_hex(3)}"
        self.inflight: dict[tuple[str, str], asyncio.Task[None]] = {}
        self.started_runs: dict[tuple[str, str], TaskRun] = {}  # the runs in flight that began an attempt
        self.settling: set[tuple[str, str]] = set()  # the messages in flight whose outcome is being recorded
        self.drain_expired = False
        self.abandoned: list[TaskRun] = []  # runs still going when the drain timeout ran out
        self.started_ms = int(time.time() * 1000)
        self.counts = {"succeeded": 0, "failed": 0, "retried": 0}
        self._last_promote = 0.0
        # Sync task calls still running in their threads. A thread cannot be stopped: a call past the
        # timeout keeps its thread until it returns, so such calls are counted, and the worker exits
        # (to be restarted) before they take every thread.
        self.calls: set[Future[Any]] = set()
        self.exit_code = 0
        self.tasks: dict[tuple[str, str], Task[Any, Any]] = {}  # by (path, queue): imported once
        # Claims and outcomes are written in batches (group commit), each batch on one of these two threads.
        self.bookkeeping = ThreadPoolExecutor(2, thread_name_prefix="bookkeeping")
        self.upkeep = threading.local()  # per bookkeeping thread: when its connection was last checked
        self.claims: GroupCommit[Claim, Started | None] = GroupCommit(self._claim_batch)
        self.settlements: GroupCommit[Settlement, bool] = GroupCommit(self._settle_batch)

    # Life cycle.
    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(4, thread_name_prefix="worker"))  # timer, sweep
        self.task_threads = ThreadPoolExecutor(2 * self.concurrency, thread_name_prefix="task")
        self.stopping = asyncio.Event()
        self.slot_freed = asyncio.Event()
        self.slots = asyncio.Semaphore(self.concurrency)
        self.redis = aioredis.Redis.from_url(self.backend.redis_url, decode_responses=True, socket_connect_timeout=2)
        self.promote = self.redis.register_script(PROMOTE_SCRIPT)
        try:
            await self._ensure_groups()
            await self._beat()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, self.stop)
            background = [
                asyncio.create_task(self._heartbeat_loop()),
                asyncio.create_task(self.claims.run()),
                asyncio.create_task(self.settlements.run()),
            ]
            if self.with_timer:
                background.append(asyncio.create_task(self._timer_loop()))
                background.append(asyncio.create_task(self._sweep_loop()))
            try:
                await self._consume()
                await self._drain()
            finally:
                for job in background:
                    job.cancel()
                await asyncio.gather(*background, return_exceptions=True)
                await self.redis.hdel(WORKER_KEY, self.worker_id)
        finally:
            self.task_threads.shutdown(wait=False, cancel_futures=True)
            self.bookkeeping.shutdown(wait=False, cancel_futures=True)
            await self.redis.close()
            await self.redis.connection_pool.disconnect()

    def stop(self) -> None:
        if not self.stopping.is_set():
            logger.info("stop requested: taking no new tasks, draining %d running", len(self.inflight))
            self.stopping.set()

    async def _ensure_groups(self) -> None:
        for stream in self.streams:
            try:
                # Id 0: a group created after tasks were enqueued still delivers them.
                await self.redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
            except ResponseError as error:
                if "BUSYGROUP" not in str(error):
                    raise

    async def _drain(self) -> None:
        """Wait up to drain_timeout for running tasks; leave the rest to be delivered again (at least once).

        The orchestrator kills the process after its grace period (30 s on Kubernetes and in our compose
        file), so the worker gives up first, names what it leaves, and exits on its own terms.
        """
        running = list(self.inflight.values())
        if not running:
            return
        _done, not_done = await asyncio.wait(running, timeout=self.backend.drain_timeout)
        if not not_done:
            return
        self.drain_expired = True
        self.abandoned = [run for key, run in list(self.started_runs.items()) if self.inflight.get(key) in not_done]
        logger.warning(
            "drain timeout (%d s): leaving %d running task(s) unacknowledged; another worker takes them after the "
            "visibility timeout (%d s): %s",
            self.backend.drain_timeout,
            len(not_done),
            self.backend.visibility_timeout,
            ", ".join(f"{run.pk} ({run.task_path}, attempt {run.attempts})" for run in self.abandoned) or "-",
        )
        for job in not_done:
            job.cancel()  # async ones stop here; a sync call's thread is abandoned when the process exits
        await asyncio.wait(not_done, timeout=1)

    # Reading.
    async def _consume(self) -> None:
        while not self.stopping.is_set():
            await self._promote_due()
            free = self._free()
            if free <= 0:
                self.slot_freed.clear()
                with suppress(TimeoutError):
                    await asyncio.wait_for(self.slot_freed.wait(), timeout=1)
                continue
            try:
                response = await self.redis.xreadgroup(
                    GROUP, self.worker_id, dict.fromkeys(self.streams, ">"), count=free, block=READ_BLOCK_MS
                )
            except ResponseError as error:
                # NOGROUP: a stream or its group is gone; UNBLOCKED: Redis 7 ended our blocked read because the
                # stream or group was deleted meanwhile (DEL, FLUSHDB). Either way: recreate and read on.
                if "NOGROUP" in str(error) or "UNBLOCKED" in str(error):
                    logger.warning(
                        "a queue's stream or consumer group was deleted under the worker (%s); recreating the "
                        "consumer group(s) and reading on",
                        error,
                    )
                    try:
                        await self._ensure_groups()
                    except (RedisError, OSError) as failure:
                        logger.error("recreating the consumer group(s) failed (%s); retrying in 1 s", failure)
                        await asyncio.sleep(1)
                    continue
                raise
            except (RedisError, OSError) as error:
                logger.error("reading the queue failed (%s); retrying in 1 s", error)
                await asyncio.sleep(1)
                continue
            for stream, messages in response or []:
                if self.stopping.is_set():
                    await self._release(stream, messages)
                else:
                    self._dispatch(stream, messages)

    def _dispatch(self, stream: str, messages: list[tuple[str, dict[str, str]]]) -> None:
        for message_id, fields in messages:
            key = (stream, message_id)
            if key in self.inflight or fields is None:
                continue
            job = asyncio.create_task(self._handle(stream, message_id, fields))
            self.inflight[key] = job
            job.add_done_callback(functools.partial(self._forget, key))

    def _free(self) -> int:
        """How many more messages to take: up to `concurrency` claimed or running, plus up to as many again whose
        outcome is being recorded (so that reading and claiming overlap the recording)."""
        working = len(self.inflight) - len(self.settling)
        return min(self.concurrency - working, 2 * self.concurrency - len(self.inflight))

    def _forget(self, key: tuple[str, str], job: asyncio.Task[None]) -> None:
        """Done callback of a job: it no longer counts against the concurrency."""
        self.inflight.pop(key, None)
        self.slot_freed.set()

    async def _release(self, stream: str, messages: list[tuple[str, dict[str, str]]]) -> None:
        """Give taken-but-unstarted messages back to the queue (stopping)."""
        pipe = self.redis.pipeline(transaction=True)
        for message_id, fields in messages:
            pipe.xadd(stream, fields)
            pipe.xack(stream, GROUP, message_id)
            pipe.xdel(stream, message_id)
        await pipe.execute()

    async def _promote_due(self) -> None:
        now = time.monotonic()
        if now - self._last_promote < PROMOTE_EVERY:
            return
        self._last_promote = now
        now_ms = int(time.time() * 1000)
        try:
            for queue in self.queues:
                await self.promote(keys=[delay_key(queue), stream_key(queue)], args=[now_ms, 1000])
        except (RedisError, OSError) as error:
            logger.error("moving due deferred tasks failed: %s", error)

    # Running one message: claimed in a batch, run, its outcome recorded and acknowledged in a batch.
    async def _handle(self, stream: str, message_id: str, fields: dict[str, str]) -> None:
        key = (stream, message_id)
        async with self.slots:
            settlement = await self._start_and_run(stream, message_id, fields)
        if settlement is None:
            return
        # Its slot is free: the next message is read and claimed while this outcome is being recorded.
        self.settling.add(key)
        self.slot_freed.set()
        try:
            await self.settlements.submit(settlement)
        except Exception:
            run = settlement.started.run
            logger.exception(
                "could not record the outcome of task %s (attempt %d); it will be delivered again", run.pk, run.attempts
            )
        finally:
            self.settling.discard(key)
            self.started_runs.pop(key, None)

    async def _start_and_run(self, stream: str, message_id: str, fields: dict[str, str]) -> Settlement | None:
        """Claim the message's run and run it; None when there is nothing to record."""
        if self.stopping.is_set():
            await self._release(stream, [(message_id, fields)])
            return None
        try:
            payload = json.loads(fields["job"])
            if not isinstance(payload, dict) or not isinstance(payload.get("id"), str):
                raise ValueError("no task id")
        except (KeyError, TypeError, ValueError):
            logger.error("dropping malformed message %s on %s: %r", message_id, stream, fields)
            await self._ack({stream: [message_id]})
            return None
        try:
            started = await self.claims.submit(Claim(stream, message_id, payload))
        except Exception:
            # The database could not record the start: leave the message pending, it is delivered again.
            logger.exception("could not start task %s; it will be delivered again", payload["id"])
            return None
        if started is None:
            return None
        key = (stream, message_id)
        self.started_runs[key] = started.run
        try:
            outcome = await self._execute(started)
        except BaseException:
            self.started_runs.pop(key, None)
            raise
        return self._settlement(stream, message_id, payload, started, outcome)

    async def _claim_batch(self, claims: list[Claim]) -> list[Started | None]:
        """Start the attempts of a batch of messages in one transaction; acknowledge those with nothing to run.

        A run named by two messages of the batch is started once: the other message is left pending, so
        that it is delivered again once this attempt is over and then acknowledged as a duplicate.
        """
        loop = asyncio.get_running_loop()
        started = await loop.run_in_executor(self.bookkeeping, self._begin, [claim.payload for claim in claims])
        results: list[Started | None] = []
        seen: set[str] = set()
        nothing_to_run: dict[str, list[str]] = {}
        for claim in claims:
            run_id = claim.payload["id"]
            if run_id in seen:
                results.append(None)
                continue
            seen.add(run_id)
            results.append(started[run_id])
            if started[run_id] is None:
                nothing_to_run.setdefault(claim.stream, []).append(claim.message_id)
        if nothing_to_run:
            await self._ack(nothing_to_run)
        return results

    @contextmanager
    def _database(self) -> Iterator[None]:
        """Django's per-request connection upkeep (the health check, CONN_MAX_AGE) for a bookkeeping thread,
        at most once a second rather than per batch (where it would add a query to each), and before the next
        batch after a failure (the connection may be broken)."""
        now = time.monotonic()
        if now - getattr(self.upkeep, "at", 0.0) >= CONNECTION_UPKEEP_EVERY:
            close_old_connections()
            self.upkeep.at = now
        try:
            yield
        except Exception:
            self.upkeep.at = 0.0
            raise

    def _begin(self, payloads: list[dict[str, Any]]) -> dict[str, Started | None]:
        with self._database():
            runs = recorder.claim_attempts(payloads, self.worker_id, self.backend.max_attempts)
        started: dict[str, Started | None] = {}
        for run_id, run in runs.items():
            if run is None:
                started[run_id] = None
                continue
            try:
                task = self._task_for(run)
            except Exception as error:  # the task cannot be imported: it fails, retrying will not help
                started[run_id] = Started(run, None, error_of(error))
                continue
            task_started.send(ReArqBackend, task_result=recorder.to_task_result(run, task))
            started[run_id] = Started(run, task)
        return started

    def _task_for(self, run: TaskRun) -> Task[Any, Any]:
        key = (run.task_path, run.queue)
        task = self.tasks.get(key)
        if task is None:
            task = self.tasks[key] = recorder.task_for(run)
        return task

    async def _execute(self, started: Started) -> Outcome:
        run, task = started.run, started.task
        if task is None:
            return Outcome(TaskResultStatus.FAILED, error=started.error)
        args: list[Any] = list(run.args)
        if task.takes_context:
            args.insert(0, TaskContext(task_result=recorder.to_task_result(run, task)))
        try:
            async with asyncio.timeout(self.backend.timeout):
                if iscoroutinefunction(task.func):
                    value = await task.func(*args, **run.kwargs)
                else:
                    value = await self._run_in_thread(task, args, run.kwargs)
            return Outcome(TaskResultStatus.SUCCESSFUL, return_value=normalize_json(value))
        except TimeoutError:
            timed_out = TaskTimedOut(f"{run.task_path} ran longer than the {self.backend.timeout} s timeout")
            return Outcome(TaskResultStatus.FAILED, error=error_of(timed_out))
        except Exception as error:
            return Outcome(TaskResultStatus.FAILED, error=error_of(error))

    async def _run_in_thread(self, task: Task[Any, Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
        call = self.task_threads.submit(self._call_sync, task, args, kwargs)
        self.calls.add(call)
        call.add_done_callback(self.calls.discard)
        try:
            return await asyncio.wrap_future(call)
        except (TimeoutError, asyncio.CancelledError):
            if not call.done() and not self.drain_expired and len(self.stuck_calls()) >= self.concurrency:
                logger.error(
                    "%d task call(s) still run past the timeout and hold their threads; stopping so the worker "
                    "is restarted",
                    len(self.stuck_calls()),
                )
                self.exit_code = 1
                self.stop()
            raise

    def stuck_calls(self) -> list[Future[Any]]:
        return [call for call in list(self.calls) if call.running()]

    @staticmethod
    def _call_sync(task: Task[Any, Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
        close_old_connections()
        return task.func(*args, **kwargs)

    def _settlement(
        self, stream: str, message_id: str, payload: dict[str, Any], started: Started, outcome: Outcome
    ) -> Settlement:
        status = outcome.status
        retry_in = None
        retryable = started.task is not None  # a task that cannot be loaded fails for good
        if status == TaskResultStatus.FAILED and retryable and started.run.attempts < self.backend.max_attempts:
            status = TaskResultStatus.READY
            retry_in = self.backend.retry_delay * 2 ** (started.run.attempts - 1)
        finish = recorder.Finish(started.run, status, return_value=outcome.return_value, error=outcome.error)
        return Settlement(stream, message_id, payload, started, finish, retry_in)

    async def _settle_batch(self, settlements: list[Settlement]) -> list[bool]:
        """Record a batch of outcomes in one statement, then schedule the retries and acknowledge, in one
        Redis transaction. A message is acknowledged only after its outcome is recorded; an outcome that is
        not recorded (another worker owns the run now: we were presumed dead) is not acknowledged."""
        loop = asyncio.get_running_loop()
        recorded = await loop.run_in_executor(self.bookkeeping, self._record, settlements)
        pipe = self.redis.pipeline(transaction=True)
        acks: dict[str, list[str]] = {}
        for settlement in settlements:
            run = settlement.started.run
            if run.pk not in recorded:
                logger.warning("task %s attempt %d was taken over; not acknowledging", run.pk, run.attempts)
                continue
            if settlement.retry_in is not None:
                due = int((time.time() + settlement.retry_in) * 1000)
                pipe.zadd(delay_key(settlement.payload["queue"]), {json.dumps(settlement.payload): due})
                self.counts["retried"] += 1
            else:
                self.counts["succeeded" if run.status == TaskResultStatus.SUCCESSFUL else "failed"] += 1
            acks.setdefault(settlement.stream, []).append(settlement.message_id)
        self._queue_acks(pipe, acks)
        await pipe.execute()
        return [settlement.started.run.pk in recorded for settlement in settlements]

    def _record(self, settlements: list[Settlement]) -> set[str]:
        with self._database():
            recorded = recorder.finish_attempts([settlement.finish for settlement in settlements])
        for settlement in settlements:
            run, task = settlement.started.run, settlement.started.task
            if run.pk in recorded and task is not None and run.status != TaskResultStatus.READY:
                task_finished.send(ReArqBackend, task_result=recorder.to_task_result(run, task))
        return recorded

    async def _ack(self, messages: dict[str, list[str]]) -> None:
        pipe = self.redis.pipeline(transaction=True)
        self._queue_acks(pipe, messages)
        await pipe.execute()

    @staticmethod
    def _queue_acks(pipe: Any, messages: dict[str, list[str]]) -> None:
        for stream, ids in messages.items():
            if ids:
                pipe.xack(stream, GROUP, *ids)
                pipe.xdel(stream, *ids)

    # Heartbeat, leases, reclaiming.
    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.backend.heartbeat_interval)
            try:
                await self._beat()
                await self._renew_leases()
                if not self.stopping.is_set():
                    await self._reclaim()
            except (RedisError, OSError) as error:
                logger.error("heartbeat failed: %s", error)

    async def _beat(self) -> None:
        info = {
            "queue": ",".join(self.queues),
            "queues": self.queues,
            "is_timer": self.with_timer,
            "ms": int(time.time() * 1000),
            "group": GROUP,
            "consumer": self.worker_id,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "concurrency": self.concurrency,
            "running": len(self.inflight),
            "started_ms": self.started_ms,
            **self.counts,
        }
        await self.redis.hset(WORKER_KEY, self.worker_id, json.dumps(info))

    async def _renew_leases(self) -> None:
        """Reset the idle time of the messages we hold, so no other worker reclaims them."""
        by_stream: dict[str, list[str]] = {}
        for stream, message_id in list(self.inflight):
            by_stream.setdefault(stream, []).append(message_id)
        for stream, ids in by_stream.items():
            await self.redis.xclaim(stream, GROUP, self.worker_id, min_idle_time=0, message_ids=ids, justid=True)

    async def _reclaim(self) -> None:
        """Take over messages whose worker stopped renewing them (it died)."""
        min_idle = self.backend.visibility_timeout * 1000
        for stream in self.streams:
            free = self._free()
            if free <= 0:
                return
            response = await self.redis.xautoclaim(stream, GROUP, self.worker_id, min_idle, "0-0", count=free)
            messages = [message for message in response[1] if message and message[1] is not None]
            if messages:
                logger.warning("reclaimed %d task(s) from a silent worker on %s", len(messages), stream)
                self._dispatch(stream, messages)

    # Periodic tasks.
    async def _timer_loop(self) -> None:
        from crontab import CronTab

        zone = ZoneInfo(settings.TIME_ZONE)
        schedules = {name: (schedule, CronTab(schedule["cron"])) for name, schedule in self.periodic.items()}

        def next_fire(tab: CronTab, after: float) -> float:
            return after + float(tab.next(now=datetime.fromtimestamp(after, zone), default_utc=False))

        due = {name: next_fire(tab, time.time()) for name, (_, tab) in schedules.items()}
        logger.info("timer: %d periodic task(s): %s", len(schedules), ", ".join(schedules) or "none")
        while True:
            now = time.time()
            for name, (schedule, tab) in schedules.items():
                if now < due[name]:
                    continue
                slot = round(due[name])
                due[name] = next_fire(tab, slot + 0.001)
                try:
                    # One enqueue per schedule slot even when several timers run.
                    if await self.redis.set(cron_slot_key(name, slot), self.worker_id, nx=True, ex=86400):
                        await asyncio.to_thread(self._enqueue_periodic, name, schedule)
                except Exception:
                    logger.exception("periodic task %s could not be enqueued", name)
            wake = min(due.values(), default=now + 1)
            await asyncio.sleep(max(0.05, min(1.0, wake - time.time())))

    async def _sweep_loop(self) -> None:
        """Fail runs whose message Redis lost; one timer sweeps per interval (the marks are guarded anyway)."""
        while True:
            await asyncio.sleep(self.backend.sweep_interval)
            try:
                if await self.redis.set(SWEEP_KEY, self.worker_id, nx=True, ex=self.backend.sweep_interval):
                    await asyncio.to_thread(self._sweep)
            except Exception:
                logger.exception("the lost-run sweep failed; trying again in %d s", self.backend.sweep_interval)

    def _sweep(self) -> None:
        close_old_connections()
        runs_sweep_lost(self.backend)

    @staticmethod
    def _enqueue_periodic(name: str, schedule: dict[str, Any]) -> None:
        close_old_connections()
        task: Task[Any, Any] = import_string(schedule["task"])
        if schedule.get("queue"):
            task = task.using(queue_name=schedule["queue"])
        result = task.enqueue(*schedule.get("args", []), **schedule.get("kwargs", {}))
        logger.info("timer: %s enqueued %s as %s", name, schedule["task"], result.id)
