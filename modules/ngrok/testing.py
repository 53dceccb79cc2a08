"""ngrok's cloud replaced at the SDK's boundary, `ngrok.forward`, for tests: a listener with a public URL that
records what it was asked to do in a JSON-lines file.

    python -m modules.ngrok.testing RECORD runserver_ngrok 127.0.0.1:8123

runs manage.py with the fake in place, in this process and in the autoreloader's children (which are started with
the same arguments).
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

PUBLIC_HOST = "tunnel-test.ngrok-free.app"


class FakeListener:
    def __init__(self, url: str, record: FakeNgrok) -> None:
        self._url = url
        self._record = record
        self.closed = False

    def url(self) -> str:
        return self._url

    async def close(self) -> None:
        self.closed = True
        self._record.note("close", url=self._url)


class FakeNgrok:
    """Stands in for ngrok.forward. `hold` keeps each call waiting until it is set (a service that does not
    answer); `error` makes each call raise it (the SDK raises ValueError(what failed, why))."""

    def __init__(self, record: Path | None = None) -> None:
        self.record = record
        self.events: list[dict[str, Any]] = []
        self.listeners: list[FakeListener] = []
        self.hold: threading.Event | None = None
        self.error: Exception | None = None

    def note(self, event: str, **details: Any) -> None:
        entry = {"event": event, "pid": os.getpid(), **details}
        self.events.append(entry)
        if self.record is not None:
            with self.record.open("a") as handle:
                handle.write(json.dumps(entry) + "\n")

    def forward(self, addr: str, **options: Any) -> FakeListener:
        self.note("forward", addr=addr, options=options)
        if self.hold is not None:
            self.hold.wait()
        if self.error is not None:
            raise self.error
        domain = options.get("domain") or PUBLIC_HOST
        listener = FakeListener(f"https://{domain}", self)
        self.listeners.append(listener)
        return listener


def read_record(record: Path) -> list[dict[str, Any]]:
    if not record.exists():
        return []
    return [json.loads(line) for line in record.read_text().splitlines()]


def main() -> None:
    record, *arguments = sys.argv[1:]
    import ngrok

    setattr(ngrok, "forward", FakeNgrok(Path(record)).forward)  # noqa: B010 (mypy refuses assigning to a function)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["manage.py", *arguments])


if __name__ == "__main__":
    main()
