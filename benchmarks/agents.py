"""Agents: what the framework adds to a run, beside the model's own time.

    DATA_DIR=/tmp/agents-bench-data .venv/bin/python benchmarks/agents.py [--runs 50]

Use a DATA_DIR of its own: the run takes a fresh database on the embedded PostgreSQL under it (dropped afterwards).
Settings are production's (DEBUG off, JSON logs at WARNING). The model is the local OpenAI-compatible stand-in
(modules/llm/testing.py) in this process, scripted for a run with two tool calls: the model asks for the database
toolset's count_records, then query_records (two real async ORM reads over the allow-list), then answers with a
streamed text. Each figure is the median over --runs runs (after a warm-up), in milliseconds:

1. http: the three streamed chat requests of a run replayed with the openai SDK alone (the same bodies): the
   stand-in's time as a client sees it, the floor under any run.
2. bare: the same agent and tools in pydantic-ai alone (no Django records, no events, no audit).
3. full: a message through services.message_post, its task on the immediate backend, the engine: the AgentRun,
   its RunEvents, two audited ToolCall rows, the LlmCall records, usage and cost.

Printed: the framework's overhead per run (full - http), of which pydantic-ai's (bare - http) and the recording's
(full - bare), and the database queries of a full run. No goal is named by the issue; the figures go in the note.
The benchmark is not run in CI.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import BASE_DIR, LIFTED, production_project


def script(api: Any) -> None:
    """One run's replies: two tool calls, then the answer."""
    api.reply("", tool_calls=[("count_records", {"model": "knowbase.Category"})], usage=(120, 12))
    api.reply("", tool_calls=[("query_records", {"model": "knowbase.Category", "limit": 5})], usage=(180, 14))
    api.reply("There are three categories: Garden, Kitchen and Tools.", usage=(240, 16))


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def timed(runs: int, once: Callable[[], Any]) -> list[float]:
    once()  # warm-up: imports, connections, caches
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        once()
        samples.append(time.perf_counter() - started)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=50, help="runs per figure (default 50)")
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("DATA_DIR") or str(BASE_DIR / ".data"),
        help="where the embedded PostgreSQL keeps its data (default: DATA_DIR or .data)",
    )
    args = parser.parse_args()
    with production_project(Path(args.data_dir).resolve(), "agents_bench", AGENTS__THROTTLE_MESSAGE=LIFTED):
        measure(args.runs)
    return 0


def measure(runs: int) -> None:
    import openai
    from asgiref.sync import async_to_sync
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from pydantic_ai import Agent

    from apps.agents import services
    from apps.agents.deps import AgentDeps
    from apps.agents.models import AgentDefinition, AgentRun, RunStatus
    from apps.agents.toolsets import toolset
    from apps.knowbase.models import Category
    from modules.llm.agent_model import agent_model
    from modules.llm.providers import forget_providers
    from modules.llm.testing import openai_stand_in, stand_in_settings

    for name in ("Garden", "Kitchen", "Tools"):
        Category.objects.get_or_create(name=name, slug=name.lower())
    user = get_user_model().objects.create_user(email="bench@example.com", is_staff=True)
    definition = AgentDefinition.objects.create(
        name="bench", instructions="Answer from the database.", toolsets=["database"], access="staff"
    )
    with openai_stand_in() as api:
        settings.LLM = stand_in_settings(api, embedding_provider="builtin", max_retries=0)
        forget_providers()

        def full() -> None:
            script(api)
            conversation = services.conversation_create(owner=user, agent=definition)
            run = services.message_post(conversation=conversation, text="Which categories are there?")
            run.refresh_from_db()
            if run.status != RunStatus.SUCCEEDED:
                raise SystemExit(f"the run did not succeed: {run.status} {run.error}")

        def bare() -> None:
            script(api)
            agent = Agent(
                agent_model(),
                deps_type=AgentDeps,
                instructions=definition.instructions,
                toolsets=[toolset("database")],
            )

            async def go() -> None:
                async with agent.iter(
                    "Which categories are there?", deps=AgentDeps(user=user, run_id=0, agent_name="bench")
                ) as agent_run:
                    async for node in agent_run:
                        if Agent.is_model_request_node(node) or Agent.is_call_tools_node(node):
                            async with node.stream(agent_run.ctx) as stream:
                                async for _event in stream:
                                    continue

            async_to_sync(go)()

        full_samples = timed(runs, full)
        bodies = [dict(request.body) for request in api.chat_requests[-3:]]
        bare_samples = timed(runs, bare)

        client = openai.OpenAI(base_url=api.base_url, api_key="sk-bench", max_retries=0)

        def http() -> None:
            script(api)
            for body in bodies:
                for _chunk in client.chat.completions.create(**body):
                    continue

        http_samples = timed(runs, http)
        script(api)
        with CaptureQueriesContext(connection) as queries:
            full()
        last = AgentRun.objects.latest("id")

    full_ms, bare_ms, http_ms = median_ms(full_samples), median_ms(bare_samples), median_ms(http_samples)
    print(f"runs per figure: {runs} (medians, ms); model: the local stand-in; {os.cpu_count()} CPUs")
    print(f"  http (three streamed chat requests, the SDK alone)  {http_ms:8.1f}")
    print(f"  bare pydantic-ai run, same tools                    {bare_ms:8.1f}")
    print(f"  full run (service, task, engine, records)           {full_ms:8.1f}")
    print(f"framework overhead per run (full - http)              {full_ms - http_ms:8.1f}")
    print(f"  of which pydantic-ai (bare - http)                  {bare_ms - http_ms:8.1f}")
    print(f"  of which recording and events (full - bare)         {full_ms - bare_ms:8.1f}")
    p95 = statistics.quantiles(full_samples, n=20)[-1] * 1000
    print(
        f"a full run: {len(queries)} database queries, {last.events.count()} events, "
        f"{last.tool_calls.count()} tool calls recorded; full run p95 {p95:.1f} ms"
    )


if __name__ == "__main__":
    sys.exit(main())
