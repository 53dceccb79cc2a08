"""A campaign to N subscribers, sent by one real worker into a local SMTP server: messages per second and the worker's
memory.

    DATA_DIR=/tmp/nlbench-data .venv/bin/python benchmarks/newsletter.py [--subscribers 10000] [--rate 10000]
        [--batch-size 500] [--redis-url redis://127.0.0.1:6379/11]

Takes a fresh database on the embedded PostgreSQL under DATA_DIR (dropped afterwards), writes a list of confirmed
subscribers, starts an SMTP server in this process (aiosmtpd, counting each recipient's messages without parsing
them), starts one `rearq_worker` subprocess on a queue of its own, sends the campaign through the queue as the admin's
Send button does, and waits until the campaign is sent. Throughput is messages / (finished_at - started_at) of the
campaign: listing the recipients, every batch, every commit of the send log, the SMTP dialogue of each message.
Memory is the worker's resident set size, sampled while it works. Checks that every subscriber got exactly one
message. The send rate is capped by --rate (NEWSLETTER__SEND_RATE; the default is far above what one worker does, so
that the figure is the sender's own speed).
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from common import embedded_database

BASE_DIR = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


class CountingSink:
    """Accepts every message and counts it per recipient; nothing is parsed or kept."""

    def __init__(self) -> None:
        self.received: Counter[str] = Counter()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        for address in envelope.rcpt_tos:
            self.received[address.lower()] += 1
        return "250 Message accepted"


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def environment(
    database_url: str, data_dir: Path, options: argparse.Namespace, queue: str, smtp_port: int
) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "DB_", "DATABASE"))}
    env.update(
        DJANGO_ENV="production",
        SECRET_KEY=secrets.token_urlsafe(50),
        DATABASE_URL=database_url,
        DATA_DIR=str(data_dir),
        SITE_URL="https://news.example.com",
        SECURITY__ALLOWED_HOSTS="news.example.com",
        LOGGING__LEVEL="WARNING",
        LOGGING__DJANGO_LEVEL="WARNING",
        TASKS__BACKEND="rearq",
        TASKS__REDIS_URL=options.redis_url,
        TASKS__QUEUES=f"default,{queue}",
        NEWSLETTER__QUEUE=queue,
        NEWSLETTER__SEND_RATE=str(options.rate),
        NEWSLETTER__BATCH_SIZE=str(options.batch_size),
        NEWSLETTER__FROM_EMAIL="News <news@example.com>",
        EMAIL__BACKEND="smtp",
        EMAIL__HOST=HOST,
        EMAIL__PORT=str(smtp_port),
    )
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=10_000, help="NEWSLETTER__SEND_RATE, messages per second")
    parser.add_argument("--batch-size", type=int, default=500, help="NEWSLETTER__BATCH_SIZE")
    parser.add_argument("--redis-url", default=os.environ.get("TASKS__REDIS_URL", "redis://127.0.0.1:6379/11"))
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("DATA_DIR") or str(BASE_DIR / ".data"),
        help="where the embedded PostgreSQL keeps its data (default: DATA_DIR or .data)",
    )
    options = parser.parse_args()
    data_dir = Path(options.data_dir).resolve()
    sys.path.insert(0, str(BASE_DIR))
    os.chdir(BASE_DIR)
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    sink = CountingSink()
    smtp_port = free_port()
    controller = Controller(sink, hostname=HOST, port=smtp_port)
    controller.start()
    try:
        with embedded_database(data_dir, "newsletter_bench") as database_url:
            env = environment(database_url, data_dir, options, queue, smtp_port)
            os.environ.update(env)
            os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
            return run(options, env, queue, sink)
    finally:
        controller.stop()


def run(options: argparse.Namespace, env: dict[str, str], queue: str, sink: CountingSink) -> int:
    import django

    django.setup()
    import psutil
    from django.core.management import call_command
    from django.db import connections
    from django.utils import timezone
    from rich.console import Console
    from rich.progress import Progress

    from apps.newsletter.models import Campaign, CampaignStatus, MailingList, Subscriber, Subscription
    from apps.newsletter.services.campaigns import campaign_send_now
    from apps.tasks.keys import delay_key, stream_key
    from apps.tasks.queue import client_for

    console = Console(width=120)
    call_command("migrate", verbosity=0)
    redis = client_for(options.redis_url)
    redis.ping()
    total = options.subscribers
    news = MailingList.objects.create(name="Benchmark", slug="benchmark")
    subscribers = Subscriber.objects.bulk_create(
        (Subscriber(email=f"reader{index}@example.com", name=f"Reader {index}") for index in range(total)),
        batch_size=2000,
    )
    Subscription.objects.bulk_create(
        (
            Subscription(subscriber=subscriber, mailing_list=news, status="confirmed", confirmed_at=timezone.now())
            for subscriber in subscribers
        ),
        batch_size=2000,
    )
    campaign = Campaign.objects.create(
        name="Benchmark",
        mailing_list=news,
        subject="News for {{ subscriber.name }}",
        html_body='<html><body><p>Hello {{ subscriber.name }},</p><p><a href="https://example.com/a">One</a> '
        '<a href="https://example.com/b">Two</a></p><p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
        "</body></html>",
        text_body="Hello {{ subscriber.name }},\nhttps://example.com/a\nUnsubscribe: {{ unsubscribe_url }}\n",
    )
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "rearq_worker", "--queue", queue],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    process = psutil.Process(worker.pid)
    peak_rss = 0
    try:
        time.sleep(2)  # the worker's start-up is not measured: the campaign's own times are
        campaign_send_now(campaign=campaign)
        with Progress(console=console, transient=True) as progress:
            bar = progress.add_task(f"sending to {total:,} subscribers", total=total)
            while Campaign.objects.get(pk=campaign.pk).status != CampaignStatus.SENT:
                if worker.poll() is not None:
                    console.print(f"[red]the worker exited with {worker.returncode}[/]")
                    return 1
                peak_rss = max(peak_rss, process.memory_info().rss)
                progress.update(bar, completed=sum(sink.received.values()))
                time.sleep(0.25)
        end_rss = process.memory_info().rss
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
        redis.delete(stream_key(queue), delay_key(queue))
        connections.close_all()

    campaign = Campaign.objects.get(pk=campaign.pk)
    assert campaign.started_at is not None and campaign.finished_at is not None
    seconds = (campaign.finished_at - campaign.started_at).total_seconds()
    delivered = sum(sink.received.values())
    duplicates = sum(1 for count in sink.received.values() if count > 1)
    console.print(
        f"campaign: {total:,} subscribers, one worker, batch size {options.batch_size}, rate cap {options.rate:g}/s, "
        f"{os.cpu_count()} CPUs shared by PostgreSQL, Redis, the SMTP server and the worker"
    )
    console.print(f"delivered: {delivered:,} messages, {len(sink.received):,} addresses, {duplicates} duplicates")
    console.print(f"throughput: {delivered / seconds:.0f} messages/s ({seconds:.1f} s from start to sent)")
    console.print(f"worker memory: peak RSS {peak_rss / 2**20:.0f} MiB, at the end {end_rss / 2**20:.0f} MiB")
    connections.close_all()
    return 0 if delivered == total and not duplicates else 1


if __name__ == "__main__":
    raise SystemExit(main())
