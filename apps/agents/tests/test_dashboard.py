"""The agents cards on the admin dashboard: runs today, failures in the last 24 hours (linked), calls waiting for
approval (linked to the queue), and this month's tokens and cost."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.utils import timezone

from apps.agents.models import AgentRun, RunStatus
from apps.agents.tests.factories import agent_create, conversation_for, user_create
from apps.knowbase.tests.factories import document_create
from modules.llm.testing import OpenAIStandIn, stand_in_settings
from modules.unfold.testing import dashboard_figures, links

pytestmark = pytest.mark.django_db

Send = Callable[..., AgentRun]


@pytest.fixture
def root_client(client: Any) -> Any:
    root = get_user_model().objects.create_superuser(email="root@example.com", password="pw-long-enough-123")
    client.force_login(root)
    return client


def test_the_dashboard_counts_runs_failures_approvals_tokens_and_cost(
    root_client: Any, chat: OpenAIStandIn, send: Send, settings: Any
) -> None:
    settings.LLM = stand_in_settings(
        chat, embedding_provider="builtin", max_retries=0, price_input_per_million=100, price_output_per_million=100
    )
    ada = user_create()
    agent = agent_create(toolsets=["knowbase"])
    chat.reply("Fine.", usage=(100, 20))
    send(conversation_for(ada, agent), "Hello")
    chat.fail(500, "down")
    send(conversation_for(ada, agent), "Hello again")
    document = document_create(owner=ada)
    chat.reply(tool_calls=[("reprocess_document", {"document_id": document.pk})], usage=(50, 5))
    paused = send(conversation_for(ada, agent), "Reprocess my notes")
    assert paused.status == RunStatus.WAITING_FOR_APPROVAL, paused.error
    # Last month's run counts in nothing of this month's, nor today's.
    old = send(conversation_for(ada, agent), "Long ago")
    AgentRun.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(days=40), input_tokens=999, output_tokens=999, cost=Decimal(9)
    )

    page = root_client.get("/admin/").content.decode()

    figures = dashboard_figures(page)
    assert figures["agents_runs_today"] == "3"
    assert figures["agents_failed"] == "1"
    assert figures["agents_waiting"] == "1"
    assert figures["agents_tokens_month"] == "175"  # 100 + 20 and 50 + 5: the failed run used none
    assert figures["agents_cost_month"] == "$0.0175"  # (120 + 55) tokens at $100 a million
    assert "150 in, 25 out" in page
    hrefs = links(page)
    assert "/admin/agents/agentrun/?status__exact=failed" in hrefs
    assert "/admin/agents/pendingapproval/" in hrefs
    for link in (
        "/admin/agents/agentdefinition/",
        "/admin/agents/conversation/",
        "/admin/agents/agentrun/",
        "/admin/agents/pendingapproval/",
        "/admin/agents/toolcall/",
    ):
        assert link in hrefs  # the sidebar
        assert root_client.get(link).status_code == 200, link


def test_with_no_prices_the_cost_says_so(root_client: Any) -> None:
    page = root_client.get("/admin/").content.decode()
    figures = dashboard_figures(page)
    assert figures["agents_runs_today"] == "0" and figures["agents_waiting"] == "0"
    assert figures["agents_cost_month"] == "—"
    assert "No run priced: set LLM__PRICE_*" in page


def test_the_cards_need_the_view_permission_on_runs(client: Any) -> None:
    staff = user_create("staff@example.com", is_staff=True)
    client.force_login(staff)
    assert not {key for key in dashboard_figures(client.get("/admin/").content.decode()) if key.startswith("agents")}
    staff.user_permissions.add(Permission.objects.get(codename="view_agentrun"))
    client.force_login(get_user_model().objects.get(pk=staff.pk))
    assert "agents_runs_today" in dashboard_figures(client.get("/admin/").content.decode())
