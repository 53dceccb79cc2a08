"""Support: live updates fanned out to many open streams, through the production web server and Redis.

    DATA_DIR=/tmp/support-bench-data .venv/bin/python benchmarks/support.py [--clients 100] [--replies 30]

Use a DATA_DIR of its own: the run takes a fresh database on the embedded PostgreSQL under it (dropped afterwards).
What runs: gunicorn with uvicorn workers and docker/gunicorn.conf.py (--workers 2), DJANGO_ENV=production, REDIS_URL
set (--redis-url, default the local Redis's database 15, emptied afterwards): the workers share events through Redis
pub/sub. Throttles are lifted; the customer has no email address (a reply's email task sends nothing), so what a
reply costs is the request, its transaction and the events.

1. --clients Server-Sent Event streams are opened on one ticket's customer stream (GET
   /api/support/tickets/<number>/events/), spread over the workers by the kernel, each an HTTP/1.1 connection of
   an asyncio client (httpx) in this process.
2. A staff member posts --replies public replies (POST /api/support/queue/<number>/messages/), one at a time, each
   once every stream has the one before. For every stream and reply: the time from the POST being sent to that
   reply's event received on the stream. Printed: p50, p95 and max over all of them (clients x replies), and any
   event that did not arrive within 10 s. The time includes the reply's own request (its transaction commits
   before the event is published) and the client's own reading of a hundred streams in one event loop.
3. Memory per open stream: the workers' resident memory (summed) with the streams open minus before they opened
   (after a warm-up of a few streams and a reply, so that the code a stream loads is not counted), divided by
   --clients. Also printed: PostgreSQL connections held by the workers while the streams are open and idle (they
   hold none between reads: at most the pools' idle connections), and the Redis pub/sub connections (one per
   worker, shared by its streams).

No goal is named by the issue; the figures go in the note. The benchmark is not run in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import BASE_DIR, HOST, LIFTED, free_port, production_project, production_server

DELIVERY_TIMEOUT = 10.0


@dataclass
class Stream:
    """One open SSE connection: when each message event arrived, by the message's id."""

    arrived: dict[int, float] = field(default_factory=dict)
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Event = field(default_factory=asyncio.Event)


def seed() -> dict[str, Any]:
    """A customer (by phone: no email to send), a staff member with the support permissions, and a ticket."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from rest_framework_simplejwt.tokens import RefreshToken

    from apps.support import services

    users = get_user_model().objects
    customer = users.create_user(email=None, phone="+447700900001", first_name="Ada")
    agent = users.create_user(email="agent@example.com", is_staff=True, first_name="Amy")
    codenames = ("view_ticket", "change_ticket")
    agent.user_permissions.add(*Permission.objects.filter(content_type__app_label="support", codename__in=codenames))
    ticket = services.ticket_create(requester=customer, subject="The invoice is wrong", body="It says 100, not 10.")
    return {
        "number": ticket.number,
        "customer": str(RefreshToken.for_user(customer).access_token),
        "agent": str(RefreshToken.for_user(agent).access_token),
    }


def workers_rss(process: subprocess.Popen[bytes]) -> int:
    import psutil

    return sum(child.memory_info().rss for child in psutil.Process(process.pid).children())


def database_connections() -> int:
    """Connections to the benchmark's database but this one (run in a thread of its own, which closes it)."""
    from django.db import connection

    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            row = cursor.fetchone()
    finally:
        connection.close()
    return int(row[0]) if row else 0


def pubsub_connections(redis_url: str) -> int:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        return sum(1 for entry in client.client_list() if str(entry.get("name", "")).startswith("broadcast-"))
    finally:
        client.close()


async def follow(client: Any, url: str, token: str, stream: Stream) -> None:
    headers = {"Accept": "text/event-stream", "Authorization": f"Bearer {token}", "X-Forwarded-Proto": "https"}
    async with client.stream("GET", url, headers=headers) as response:
        if response.status_code != 200:
            raise SystemExit(f"a stream was refused: {response.status_code} {(await response.aread())[:300]!r}")
        async for line in response.aiter_lines():
            if line.startswith(": stream open"):
                stream.opened.set()
            elif line.startswith("data: "):
                at = time.perf_counter()
                envelope = json.loads(line.removeprefix("data: "))
                if envelope["kind"] == "message":
                    stream.arrived[envelope["data"]["id"]] = at
                    stream.changed.set()


async def open_streams(client: Any, url: str, token: str, count: int) -> tuple[list[Stream], list[asyncio.Task[None]]]:
    streams = [Stream() for _ in range(count)]
    tasks = [asyncio.create_task(follow(client, url, token, stream)) for stream in streams]
    await asyncio.wait_for(asyncio.gather(*(stream.opened.wait() for stream in streams)), timeout=60)
    return streams, tasks


async def close_streams(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def post_reply(client: Any, base: str, seeded: dict[str, Any], number: int) -> tuple[int, float, float]:
    """The message's id, when the POST was sent, and how long its answer took."""
    headers = {"Authorization": f"Bearer {seeded['agent']}", "X-Forwarded-Proto": "https"}
    sent_at = time.perf_counter()
    response = await client.post(
        f"{base}/api/support/queue/{seeded['number']}/messages/", json={"body": f"Reply {number}"}, headers=headers
    )
    if response.status_code != 201:
        raise SystemExit(f"the reply was refused: {response.status_code} {response.text[:300]}")
    return int(response.json()["id"]), sent_at, time.perf_counter() - sent_at


async def delivered(streams: list[Stream], message_id: int) -> None:
    async def one(stream: Stream) -> None:
        while message_id not in stream.arrived:
            stream.changed.clear()
            await stream.changed.wait()

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(one(stream) for stream in streams)), timeout=DELIVERY_TIMEOUT)


async def measure(args: argparse.Namespace, base: str, seeded: dict[str, Any], server: subprocess.Popen[bytes]) -> None:
    import httpx

    url = f"{base}/api/support/tickets/{seeded['number']}/events/"
    limits = httpx.Limits(max_connections=args.clients + 20, max_keepalive_connections=args.clients + 20)
    timeout = httpx.Timeout(30, read=None)
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
        # Warm-up: every worker serves a few streams and a reply (imports, the pub/sub connection, the pool).
        warm, warm_tasks = await open_streams(client, url, seeded["customer"], 6)
        message_id, _, _ = await post_reply(client, base, seeded, 0)
        await delivered(warm, message_id)
        await close_streams(warm_tasks)
        await asyncio.sleep(2)
        before = workers_rss(server)

        streams, tasks = await open_streams(client, url, seeded["customer"], args.clients)
        await asyncio.sleep(2)
        with_streams = workers_rss(server)
        idle_connections = await asyncio.to_thread(database_connections)
        pubsub = pubsub_connections(args.redis_url)

        latencies: list[float] = []
        requests: list[float] = []
        missing = 0
        for number in range(1, args.replies + 1):
            message_id, sent_at, took = await post_reply(client, base, seeded, number)
            requests.append(took)
            await delivered(streams, message_id)
            for stream in streams:
                if message_id in stream.arrived:
                    latencies.append(stream.arrived[message_id] - sent_at)
                else:
                    missing += 1
        await close_streams(tasks)

    per_stream = (with_streams - before) / args.clients
    print(
        f"support live updates: {args.clients} SSE streams on one ticket's customer stream, {args.replies} replies; "
        f"gunicorn + uvicorn, {args.workers} workers, Redis pub/sub; production settings; {os.cpu_count()} CPUs "
        "shared with the client"
    )
    if latencies:
        p50 = statistics.median(latencies) * 1000
        p95 = statistics.quantiles(latencies, n=20)[-1] * 1000
        print(
            f"  reply posted -> event received, over {len(latencies)} deliveries: p50 {p50:.1f} ms, p95 {p95:.1f} ms, "
            f"max {max(latencies) * 1000:.1f} ms; not delivered within {DELIVERY_TIMEOUT:g} s: {missing}"
        )
        print(f"  of which the reply's own request (POST to its 201): p50 {statistics.median(requests) * 1000:.1f} ms")
    print(
        f"  memory per open stream: {per_stream / 1024:.1f} KiB (workers' RSS {before / 2**20:.1f} MiB before, "
        f"{with_streams / 2**20:.1f} MiB with the streams open)"
    )
    print(
        f"  while the streams were open and idle: PostgreSQL connections of the workers {idle_connections} (their "
        f"pools: DB_POOL__MAX_SIZE {os.environ.get('DB_POOL__MAX_SIZE', 4)} each), Redis pub/sub connections {pubsub}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=100, help="open SSE streams (default 100)")
    parser.add_argument("--replies", type=int, default=30, help="replies posted, one at a time (default 30)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument(
        "--redis-url", default="redis://127.0.0.1:6379/15", help="Redis for events, cache and throttles; emptied after"
    )
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("DATA_DIR") or str(BASE_DIR / ".data"),
        help="where the embedded PostgreSQL keeps its data (default: DATA_DIR or .data)",
    )
    args = parser.parse_args()
    if args.clients < 1 or args.replies < 2:
        parser.error("--clients must be at least 1 and --replies at least 2")
    lifted = {
        "API__THROTTLE_USER": LIFTED,
        "API__THROTTLE_ANON": LIFTED,
        "SUPPORT__THROTTLE_REPLY": LIFTED,
        "SUPPORT__THROTTLE_CREATE": LIFTED,
    }
    import redis
    from django.db import connections

    try:
        with (
            production_project(Path(args.data_dir).resolve(), "support_bench", REDIS_URL=args.redis_url, **lifted),
            tempfile.TemporaryDirectory(prefix="support-bench-") as logs,
        ):
            seeded = seed()
            connections.close_all()
            port = free_port()
            with production_server(dict(os.environ), port, args.workers, Path(logs) / "gunicorn.log") as server:
                asyncio.run(measure(args, f"http://{HOST}:{port}", seeded, server))
                if server.poll() is not None:
                    print("the server exited during the run")
                    return 1
    finally:
        client = redis.Redis.from_url(args.redis_url)
        client.flushdb()
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
