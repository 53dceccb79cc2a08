"""Live updates across web processes: two servers as production runs them (gunicorn with uvicorn workers and
docker/gunicorn.conf.py), on the test database and one Redis. A customer and a staff member follow a ticket on
process A and write on process B: each hears the other through Redis pub/sub, and an internal note reaches the
staff streams on A but never the customer's."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from rest_framework_simplejwt.tokens import RefreshToken

from apps.support.models import Audience, Ticket, TicketEvent
from apps.support.tests.factories import NOTE, REDIS_URL, REPLY, agent_create, ticket_create, user_create
from modules.api.testing import server_database_url, sse_parse, wait_until_up, web_process

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CUSTOMER_SAYS = "Thank you, the refund arrived."


def server_env() -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_ENV": "test",
        "DATABASE_URL": server_database_url(),
        "REDIS_URL": REDIS_URL,
        "TASKS__BACKEND": "immediate",
        "SUPPORT__HEARTBEAT_SECONDS": "1",
    }


def bearer(user: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {RefreshToken.for_user(user).access_token}"}


class Follower(threading.Thread):
    """An SSE client in a thread of its own: what it receives, parsed, as it comes. Stops after the next
    heartbeat once told to."""

    def __init__(self, url: str, user: Any) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.headers = {**bearer(user), "Accept": "text/event-stream"}
        self.received: list[dict[str, Any]] = []
        self.status = 0
        self.opened = threading.Event()
        self.stopping = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with (
                httpx.Client(timeout=httpx.Timeout(10, read=30)) as client,
                client.stream("GET", self.url, headers=self.headers) as response,
            ):
                self.status = response.status_code
                pending = ""
                for text in response.iter_text():
                    pending += text
                    complete, _, pending = pending.rpartition("\n\n")
                    if complete:
                        self.received += sse_parse((complete + "\n\n").encode())
                        self.opened.set()
                    if self.stopping.is_set():
                        return
        except BaseException as error:
            self.error = error
        finally:
            self.opened.set()

    def events(self) -> list[dict[str, Any]]:
        return [item for item in list(self.received) if "event" in item]

    def bodies(self) -> list[str]:
        return [event["data"]["data"]["body"] for event in self.events() if event["event"] == "message"]

    def wait_for(self, what: Callable[[], bool], description: str) -> None:
        deadline = time.monotonic() + 10
        while not what():
            assert self.error is None, self.error
            assert time.monotonic() < deadline, f"{description} did not arrive on {self.url}: {self.received}"
            time.sleep(0.02)

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=10)


@pytest.mark.usefixtures("redis_14")
def test_a_customer_and_staff_exchange_messages_live_across_two_web_processes(tmp_path: Path) -> None:
    ada = user_create("ada.customer@example.com", first_name="Ada")
    agent = agent_create()
    ticket: Ticket = ticket_create(ada)
    with (
        web_process(tmp_path / "a.log", server_env()) as (a, process_a),
        web_process(tmp_path / "b.log", server_env()) as (b, process_b),
    ):
        wait_until_up(a, process_a, tmp_path / "a.log")
        wait_until_up(b, process_b, tmp_path / "b.log")
        followers = {
            # From the first event on: the replay from the database, then what is published.
            "customer": Follower(f"{a}/api/support/tickets/{ticket.number}/events/?since=0", ada),
            "staff": Follower(f"{a}/api/support/queue/{ticket.number}/events/?since=0", agent),
            "queue": Follower(f"{a}/api/support/queue/events/?since=0", agent),
        }
        for follower in followers.values():
            follower.start()
        try:
            for follower in followers.values():
                # The first thing a stream sends comes once it is subscribed: what is published after, it hears.
                assert follower.opened.wait(30) and follower.error is None, follower.error
                assert follower.status == 200

            staff_post = httpx.post(
                f"{b}/api/support/queue/{ticket.number}/messages/", json={"body": NOTE, "internal": True},
                headers=bearer(agent), timeout=30,
            )  # fmt: skip
            assert staff_post.status_code == 201, staff_post.text
            reply = httpx.post(
                f"{b}/api/support/queue/{ticket.number}/messages/", json={"body": REPLY}, headers=bearer(agent),
                timeout=30,
            )  # fmt: skip
            assert reply.status_code == 201, reply.text

            customer, staff, queue = followers["customer"], followers["staff"], followers["queue"]
            customer.wait_for(lambda: REPLY in customer.bodies(), "the staff reply")
            staff.wait_for(lambda: staff.bodies()[1:] == [NOTE, REPLY], "the note and the reply")
            queue.wait_for(lambda: queue.bodies()[1:] == [NOTE, REPLY], "the note and the reply")

            # The customer answers on B; staff on A hear it.
            answer = httpx.post(
                f"{b}/api/support/tickets/{ticket.number}/messages/", json={"body": CUSTOMER_SAYS},
                headers=bearer(ada), timeout=30,
            )  # fmt: skip
            assert answer.status_code == 201, answer.text
            staff.wait_for(lambda: CUSTOMER_SAYS in staff.bodies(), "the customer's answer")
            customer.wait_for(lambda: CUSTOMER_SAYS in customer.bodies(), "the customer's own answer")
        finally:
            for follower in followers.values():
                follower.stop()

    # Everything the customer's stream carried was PUBLIC, the note nowhere in it; staff had every event.
    assert NOTE not in str(customer.received)
    assert {event["data"]["audience"] for event in customer.events()} == {Audience.PUBLIC}
    public = TicketEvent.objects.filter(ticket=ticket, audience=Audience.PUBLIC).order_by("pk")
    assert [int(event["id"]) for event in customer.events()] == [row.pk for row in public]
    everything = [row.pk for row in TicketEvent.objects.filter(ticket=ticket).order_by("pk")]
    assert [int(event["id"]) for event in staff.events()] == everything
    assert [int(event["id"]) for event in queue.events()] == everything
