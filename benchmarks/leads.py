"""Leads: the public submission path, in process, through the whole Django stack.

    DATA_DIR=/tmp/leads-bench-data .venv/bin/python benchmarks/leads.py [--runs 300]

Use a DATA_DIR of its own: the run takes a fresh database on the embedded PostgreSQL under it (dropped afterwards).
Settings are production's (DEBUG off, JSON logs at WARNING), the throttle lifted, Turnstile and the Telegram chat
off (a notification is a task, never part of the request). Each submission is a POST /api/leads/submit/ made with
Django's test client (middleware, body limit, DRF, the defences, the service, the JSON answer; no socket), with a
signed form token shown a minute earlier. Four kinds, --runs of each after a warm-up:

1. new: a new address each time: the address lock, the dedup lookup, the lead and its touch inserted.
2. repeat: the same submission again within LEADS__DEDUP_WINDOW: answered with the same lead, nothing written.
3. returning: a known address with a new message: the lead updated, a new touch.
4. honeypot: the trap filled: answered as a success before any work.

Printed: p50 and p95 per submission in milliseconds, and the database queries of one submission of each kind. No
goal is named by the issue; the figures go in docs/leads.md. The benchmark is not run in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import BASE_DIR, LIFTED, production_project


def percentiles_ms(samples: list[float]) -> tuple[float, float]:
    return statistics.median(samples) * 1000, statistics.quantiles(samples, n=20)[-1] * 1000


def timed(runs: int, once: Callable[[int], Any]) -> list[float]:
    once(-1)  # warm-up: imports, connections, caches
    samples = []
    for number in range(runs):
        started = time.perf_counter()
        once(number)
        samples.append(time.perf_counter() - started)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=300, help="submissions of each kind (default 300)")
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("DATA_DIR") or str(BASE_DIR / ".data"),
        help="where the embedded PostgreSQL keeps its data (default: DATA_DIR or .data)",
    )
    args = parser.parse_args()
    if args.runs < 20:
        parser.error("--runs must be at least 20 (a p95 needs them)")
    no_telegram = {"LEADS__TELEGRAM_CHAT_ID": "", "TELEGRAM__CHAT_ID": ""}
    with production_project(Path(args.data_dir).resolve(), "leads_bench", LEADS__THROTTLE_SUBMIT=LIFTED, **no_telegram):
        measure(args.runs)
    return 0


def measure(runs: int) -> None:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from apps.leads.defences import form_token_issue
    from apps.leads.models import Lead, LeadTouch

    client = Client(HTTP_HOST="127.0.0.1", REMOTE_ADDR="203.0.113.5")
    token = form_token_issue(at=time.time() - 60)

    def post(**fields: Any) -> None:
        body = {
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "company": "Analytical Engines",
            "message": "We would like a demo.",
            "source": "pricing",
            "utm_source": "newsletter",
            "consent": True,
            "form_token": token,
            **fields,
        }
        response = client.post("/api/leads/submit/", json.dumps(body), content_type="application/json", secure=True)
        if response.status_code != 202:
            raise SystemExit(f"the submission was refused: {response.status_code} {response.content[:300]!r}")

    kinds: dict[str, Callable[[int], None]] = {
        "new (a new address each time)": lambda number: post(email=f"new{number}@example.com"),
        "repeat (the same submission again)": lambda number: post(email="repeat@example.com"),
        "returning (known address, new message)": lambda number: post(
            email="returning@example.com", message=f"Question {number}"
        ),
        "honeypot (dropped before any work)": lambda number: post(website="https://spam.example.com"),
    }
    figures = []
    for label, once in kinds.items():
        samples = timed(runs, once)
        with CaptureQueriesContext(connection) as queries:
            once(runs + 1)
        figures.append((label, *percentiles_ms(samples), len(queries)))

    print(
        f"submissions per kind: {runs}; in process (Django's test client), production settings; {os.cpu_count()} CPUs"
    )
    print(f"  {'kind':42} {'p50 ms':>8} {'p95 ms':>8} {'queries':>8}")
    for label, p50, p95, count in figures:
        print(f"  {label:42} {p50:8.2f} {p95:8.2f} {count:8d}")
    print(f"stored: {Lead.objects.count()} leads, {LeadTouch.objects.count()} touches")


if __name__ == "__main__":
    sys.exit(main())
