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
import time
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
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
from apps.tasks.exceptions import TaskTimedOut
from apps.tasks.keys import GROUP, PROMOTE_SCRIPT, SWEEP_KEY, WORKER_KEY, cron_slot_key, delay_key, stream_key
from apps.tasks.models import TaskRun
from apps.tasks.sweep import runs_sweep_lost

logger = logging.getLogger("apps.tasks.worker")

PROMOTE_EVERY = 0.25  # seconds between moves of due deferred jobs into the streams
READ_BLOCK_MS = 1000  # how long one read waits for work; bounds how fast a stop request is noticed


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
class Started:
    run: TaskRun
    task: Task[Any, Any]


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

    # Life cycle.
    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(8, thread_name_prefix="worker"))  # bookkeeping: start, record
        self.task_threads = ThreadPoolExecutor(2 * self.concurrency, thread_name_prefix="task")
        self.stopping = asyncio.Event()
        self.slots = asyncio.Semaphore(self.concurrency)
        self.redis = aioredis.Redis.from_url(self.backend.redis_url, decode_responses=True, socket_connect_timeout=2)
        self.promote = self.redis.register_script(PROMOTE_SCRIPT)
        try:
            await self._ensure_groups()
            await self._beat()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, self.stop)
            background = [asyncio.create_task(self._heartbeat_loop())]
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
            free = self.concurrency - len(self.inflight)
            if free <= 0:
                await asyncio.wait(list(self.inflight.values()), timeout=1, return_when=asyncio.FIRST_COMPLETED)
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

    def _forget(self, key: tuple[str, str], job: asyncio.Task[None]) -> None:
        """Done callback of a job: it no longer counts against the concurrency."""
        self.inflight.pop(key, None)

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

    # Running one message.
    async def _handle(self, stream: str, message_id: str, fields: dict[str, str]) -> None:
        async with self.slots:
            if self.stopping.is_set():
                await self._release(stream, [(message_id, fields)])
                return
            try:
                payload = json.loads(fields["job"])
                if not isinstance(payload, dict) or "id" not in payload:
                    raise ValueError("no task id")
            except (KeyError, TypeError, ValueError):
                logger.error("dropping malformed message %s on %s: %r", message_id, stream, fields)
                await self._ack(stream, message_id)
                return
            try:
                started = await asyncio.to_thread(self._begin, payload)
            except Exception:
                # The database could not record the start: leave the message pending, it is delivered again.
                logger.exception("could not start task %s; it will be delivered again", payload["id"])
                return
            if started is None:
                await self._ack(stream, message_id)
                return
            key = (stream, message_id)
            self.started_runs[key] = started.run
            try:
                outcome = await self._execute(started)
                await self._settle(stream, message_id, started, outcome, payload)
            finally:
                self.started_runs.pop(key, None)

    def _begin(self, payload: dict[str, Any]) -> Started | None:
        close_old_connections()
        run = recorder.claim_attempt(payload, self.worker_id, self.backend.max_attempts)
        if run is None:
            return None
        try:
            task = recorder.task_for(run)
        except Exception as error:  # the task cannot be imported: fail it, retrying will not help
            recorder.finish_attempt(run, TaskResultStatus.FAILED, error=error_of(error))
            self.counts["failed"] += 1
            return None
        task_started.send(ReArqBackend, task_result=recorder.to_task_result(run, task))
        return Started(run, task)

    async def _execute(self, started: Started) -> Outcome:
        run, task = started.run, started.task
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

    async def _settle(
        self, stream: str, message_id: str, started: Started, outcome: Outcome, payload: dict[str, Any]
    ) -> None:
        run = started.run
        status = outcome.status
        retry_in = None
        if status == TaskResultStatus.FAILED and run.attempts < self.backend.max_attempts:
            status = TaskResultStatus.READY
            retry_in = self.backend.retry_delay * 2 ** (run.attempts - 1)
        recorded = await asyncio.to_thread(self._record, started, status, outcome)
        if not recorded:
            # Another worker owns this run now (we were presumed dead); it acknowledges the message.
            logger.warning("task %s attempt %d was taken over; not acknowledging", run.pk, run.attempts)
            return
        pipe = self.redis.pipeline(transaction=True)
        if retry_in is not None:
            pipe.zadd(delay_key(payload["queue"]), {json.dumps(payload): int((time.time() + retry_in) * 1000)})
            self.counts["retried"] += 1
        else:
            self.counts["succeeded" if status == TaskResultStatus.SUCCESSFUL else "failed"] += 1
        pipe.xack(stream, GROUP, message_id)
        pipe.xdel(stream, message_id)
        await pipe.execute()

    def _record(self, started: Started, status: str, outcome: Outcome) -> bool:
        close_old_connections()
        recorded = recorder.finish_attempt(started.run, status, return_value=outcome.return_value, error=outcome.error)
        if recorded and status != TaskResultStatus.READY:
            task_finished.send(ReArqBackend, task_result=recorder.to_task_result(started.run, started.task))
        return recorded

    async def _ack(self, stream: str, message_id: str) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.xack(stream, GROUP, message_id)
        pipe.xdel(stream, message_id)
        await pipe.execute()

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
            free = self.concurrency - len(self.inflight)
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
