"""Rows, files and clients for the support tests, made the way the application makes them (through the services)."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.tasks import task_backends
from django.tasks.backends.dummy import DummyBackend
from django.test.utils import CaptureQueriesContext
from PIL import Image
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from apps.support import services
from apps.support.models import CannedReply, Category, Message, Ticket

# What a staff member who works on support is given in the admin: reading and changing tickets.
AGENT_PERMISSIONS = ("view_ticket", "change_ticket")
# Tasks kept, not run: with settings.TASKS = DUMMY_TASKS, queued_tasks() lists what was enqueued.
DUMMY_TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
# The Redis database the support tests may use (and empty): the redis_14 fixture's.
REDIS_URL = "redis://127.0.0.1:6379/14"
# An internal note and a public reply, for the tests that follow where each goes.
NOTE = "Internal: the customer's card was flagged for fraud"
REPLY = "We have refunded the difference."


def user_create(email: str | None = "ada@example.com", **fields: Any) -> Any:
    return get_user_model().objects.create_user(email=email, **fields)


def staff_create(
    email: str = "sam.staff@example.com", *, permissions: tuple[str, ...] | None = None, **fields: Any
) -> Any:
    """A staff member who works tickets: with every support permission, or only the codenames in `permissions`
    (() for staff of another team, who may neither see tickets nor be given one)."""
    user = get_user_model().objects.create_user(email=email, is_staff=True, **fields)
    granted = Permission.objects.filter(content_type__app_label="support")
    if permissions is not None:
        granted = granted.filter(codename__in=permissions)
    user.user_permissions.add(*granted)
    return user


def agent_create(
    email: str = "alex.agent@example.com", *, permissions: tuple[str, ...] = AGENT_PERMISSIONS, **fields: Any
) -> Any:
    """A staff member who works on support: with the ticket permissions (or only the codenames in `permissions`)."""
    return staff_create(email, permissions=permissions, **fields)


def client_for(user: Any) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


def category_create(name: str = "Billing", *, active: bool = True) -> Category:
    return Category.objects.create(name=name, active=active)


def canned_create(title: str = "Thanks", body: str = "Hello $requester_name, thanks!", **fields: Any) -> CannedReply:
    return CannedReply.objects.create(title=title, body=body, **fields)


def ticket_create(
    requester: Any, subject: str = "The invoice is wrong", body: str = "It says 100, not 10.", **fields: Any
) -> Ticket:
    return services.ticket_create(requester=requester, subject=subject, body=body, **fields)


def ticket_backdate(ticket: Ticket, created_at: datetime) -> Ticket:
    """The ticket as if opened at `created_at`: its due times counted from then (as the service counts them)."""
    from apps.support import sla

    ticket.refresh_from_db()
    ticket.created_at = created_at
    sla.set_due_times(ticket)
    Ticket.objects.filter(pk=ticket.pk).update(
        created_at=created_at,
        first_response_due_at=ticket.first_response_due_at,
        resolution_due_at=ticket.resolution_due_at,
    )
    ticket.refresh_from_db()
    return ticket


def staff_answer(ticket: Ticket, staff: Any, body: str = "We are on it.", **fields: Any) -> Message:
    return services.staff_reply(ticket=ticket, author=staff, body=body, **fields)


def fresh(ticket: Ticket) -> Ticket:
    return Ticket.objects.get(pk=ticket.pk)


def queued_tasks() -> list[tuple[str, tuple[object, ...]]]:
    backend = task_backends["default"]
    assert isinstance(backend, DummyBackend)
    return [(result.task.name, tuple(result.args)) for result in backend.results]


def queries_of(client: APIClient, path: str) -> int:
    """How many queries a GET of `path` takes (answered 200)."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200
    return len(queries.captured_queries)


def png_bytes(size: tuple[int, int] = (4, 3), color: str = "red") -> bytes:
    return _image_bytes("PNG", size, color)


def jpeg_bytes(size: tuple[int, int] = (4, 3)) -> bytes:
    return _image_bytes("JPEG", size, "blue")


def gif_bytes() -> bytes:
    return _image_bytes("GIF", (2, 2), "green")


def webp_bytes() -> bytes:
    return _image_bytes("WEBP", (2, 2), "white")


def _image_bytes(format_name: str, size: tuple[int, int], color: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format=format_name)
    return out.getvalue()


PDF_BYTES = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def upload(name: str, data: bytes, content_type: str = "application/octet-stream") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


class Held:
    """Runs `first` in a transaction of its own thread and keeps that transaction open (its row locks held) until
    release(); `second` then runs in another thread, which must wait for those locks when its service takes them."""

    def __init__(self, first: Callable[[], Any], second: Callable[[], Any]) -> None:
        self.errors: list[BaseException] = []
        self.first_done = threading.Event()
        self.second_done = threading.Event()
        self._release = threading.Event()
        self._threads = [
            threading.Thread(target=self._hold, args=(first,)),
            threading.Thread(target=self._run, args=(second,)),
        ]
        self._threads[0].start()
        assert self.first_done.wait(10), self.errors
        self._threads[1].start()

    def _hold(self, call: Callable[[], Any]) -> None:
        try:
            with transaction.atomic():
                call()
                self.first_done.set()
                self._release.wait(10)
        except BaseException as error:
            self.errors.append(error)
            self.first_done.set()
        finally:
            connection.close()

    def _run(self, call: Callable[[], Any]) -> None:
        try:
            call()
        except BaseException as error:
            self.errors.append(error)
        finally:
            self.second_done.set()
            connection.close()

    def release(self) -> None:
        self._release.set()
        for thread in self._threads:
            thread.join(10)
