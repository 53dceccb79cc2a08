"""The synchronous side of the Redis queue: what web processes and management commands need."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from apps.tasks.exceptions import TaskQueueUnavailable
from apps.tasks.keys import GROUP, PURGE_SCRIPT, WORKER_KEY, delay_key, stream_key
from cfg.introspection import mask_url_password

T = TypeVar("T")
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)
STREAM_PAGE = 1000  # messages read per XRANGE call when looking for lost runs or purging


def payloads_of(bodies: list[bytes]) -> list[dict[str, Any]]:
    """The task payloads among message bodies; malformed ones (no JSON object with a string id) are skipped."""
    payloads = []
    for body in bodies:
        try:
            payload = json.loads(body)
        except ValueError:
            continue
        if isinstance(payload, dict) and isinstance(payload.get("id"), str):
            payloads.append(payload)
    return payloads


@cache
def client_for(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30)


class RedisQueue:
    def __init__(self, url: str) -> None:
        self.url = url
        self.shown_url = mask_url_password(url)
        self.client = client_for(url)

    def _call(self, action: str, operation: Callable[[], T]) -> T:
        try:
            return operation()
        except UNREACHABLE as error:
            raise TaskQueueUnavailable(
                f"The task queue (Redis at {self.shown_url}) is unreachable, so the task could not be {action}: "
                f"{error}. Check that Redis is running and TASKS__REDIS_URL / REDIS_URL points at it."
            ) from error
        except RedisError as error:  # out of memory, a read-only replica after a failover, …
            raise TaskQueueUnavailable(
                f"The task queue (Redis at {self.shown_url}) refused the command, so the task could not be "
                f"{action}: {error}. Check the Redis server (memory, replication role)."
            ) from error

    def push(
        self,
        queue: str,
        payload: dict[str, Any],
        *,
        meanwhile: Callable[[], None] = lambda: None,
        undo: Callable[[], None] = lambda: None,
    ) -> None:
        """Append the message to the queue's stream, running `meanwhile` while Redis answers, so that its round trip
        and Redis's overlap. If Redis cannot be reached, `meanwhile` does not run. If Redis answers with a refusal
        (or does not answer) after `meanwhile` ran, `undo` runs before the error is raised."""
        body = json.dumps(payload)
        failure: list[BaseException] = []

        def append() -> None:
            pool = self.client.connection_pool
            connection = pool.get_connection("XADD")
            try:
                connection.send_command("XADD", stream_key(queue), "*", "job", body)
                try:
                    meanwhile()
                except BaseException as error:  # not Redis's: raised as it is, below
                    connection.disconnect()  # its answer is left unread
                    failure.append(error)
                    return
                try:
                    connection.read_response()
                except BaseException:
                    connection.disconnect()
                    undo()
                    raise
            except UNREACHABLE:
                connection.disconnect()
                raise
            finally:
                pool.release(connection)

        self._call("queued", append)
        if failure:
            raise failure[0]

    def defer(self, queue: str, payload: dict[str, Any], run_at: float) -> None:
        member = json.dumps(payload)
        self._call("queued", lambda: self.client.zadd(delay_key(queue), {member: int(run_at * 1000)}))

    def depth(self, queue: str) -> dict[str, int]:
        """waiting: not yet taken; running: taken by a worker, not acknowledged; delayed: run_after or retry."""

        def read() -> dict[str, int]:
            pipe = self.client.pipeline(transaction=False)
            pipe.xlen(stream_key(queue))
            pipe.zcard(delay_key(queue))
            length, delayed = pipe.execute()
            taken = 0
            if length:
                try:
                    taken = int(self.client.xpending(stream_key(queue), GROUP)["pending"])
                except redis.ResponseError:  # no worker has created the group yet
                    taken = 0
            return {"waiting": length - taken, "running": taken, "delayed": delayed}

        return self._call("counted", read)

    def purge(self, queue: str) -> list[dict[str, Any]]:
        """Drop a queue's waiting and delayed messages, atomically; return their payloads.

        Messages a worker has taken (pending in the consumer group) are left alone: they finish and are
        recorded as usual. The stream and its group are kept, so blocked workers are not disturbed.
        """

        def drop() -> list[dict[str, Any]]:
            script = self.client.register_script(PURGE_SCRIPT)
            waiting, delayed = script(keys=[stream_key(queue), delay_key(queue)], args=[GROUP, STREAM_PAGE])
            return payloads_of([*waiting, *delayed])

        return self._call("purged", drop)

    def held_ids(self, queue: str) -> set[str]:
        """The run ids of every message a queue still holds: delayed, waiting, or taken (pending) by a worker.

        The delay set is read before the stream, and the stream oldest first up to its end: a message
        moved meanwhile (a due deferred task, a released one) is appended to the stream and still seen.
        """

        def read() -> set[str]:
            bodies: list[bytes] = list(self.client.zrange(delay_key(queue), 0, -1))
            start = "-"
            while True:
                page = self.client.xrange(stream_key(queue), min=start, max="+", count=STREAM_PAGE)
                bodies.extend(fields[b"job"] for _, fields in page if b"job" in fields)
                if len(page) < STREAM_PAGE:
                    break
                start = f"({page[-1][0].decode()}"
            return {payload["id"] for payload in payloads_of(bodies)}

        return self._call("looked up", read)

    def live_workers(self, heartbeat_interval: int) -> list[dict[str, Any]]:
        """Workers whose last heartbeat is recent (three intervals)."""
        entries = self._call("listed", lambda: self.client.hgetall(WORKER_KEY))
        horizon = (time.time() - 3 * heartbeat_interval) * 1000
        workers = []
        for name, raw in entries.items():
            try:
                info = json.loads(raw)
            except ValueError:
                continue
            if info.get("ms", 0) >= horizon:
                workers.append({"name": name.decode() if isinstance(name, bytes) else name, **info})
        return sorted(workers, key=lambda worker: worker["name"])
