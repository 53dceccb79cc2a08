"""The support section: SLA targets for every priority, known attachment kinds, a ticket link that names the ticket."""

from __future__ import annotations

import pytest

from .conftest import Project

TEST = {"DJANGO_ENV": "test"}


def test_sla_targets_given_as_json_replace_the_defaults(project: Project) -> None:
    minutes = '{"low": 600, "normal": 300, "high": 60, "urgent": 15}'
    settings = project.load({**TEST, "SUPPORT__FIRST_RESPONSE_MINUTES": minutes}).get_all_settings()

    assert settings["SUPPORT"]["FIRST_RESPONSE_MINUTES"] == {"low": 600, "normal": 300, "high": 60, "urgent": 15}
    assert settings["SUPPORT"]["RESOLUTION_MINUTES"]["urgent"] == 240


@pytest.mark.parametrize(
    ("minutes", "message"),
    [
        (
            '{"low": 600, "normal": 300, "high": 60}',
            "urgent has no minutes. Fix: give minutes for every priority: low, normal, high, urgent",
        ),
        (
            '{"low": 6, "normal": 3, "high": 2, "urgent": 1, "critical": 1}',
            "unknown priorities ['critical']. Fix: use low, normal, high, urgent",
        ),
        (
            '{"low": 6, "normal": 3, "high": 2, "urgent": 0}',
            "minutes must be at least 1. Fix: give each priority 1 minute or more",
        ),
    ],
)
def test_sla_targets_must_name_every_priority_once(project: Project, minutes: str, message: str) -> None:
    [problem] = project.problems({**TEST, "SUPPORT__RESOLUTION_MINUTES": minutes})

    assert problem.startswith("Invalid configuration: support.resolution_minutes (from env var SUPPORT__RESOLUTION_")
    assert message in problem


def test_attachment_kinds_are_a_comma_list_of_known_kinds(project: Project) -> None:
    settings = project.load({**TEST, "SUPPORT__ATTACHMENT_KINDS": "png, PDF"}).get_all_settings()
    assert settings["SUPPORT"]["ATTACHMENT_KINDS"] == ["png", "pdf"]

    [problem] = project.problems({**TEST, "SUPPORT__ATTACHMENT_KINDS": "png,exe"})
    assert "unknown kinds ['exe']. Fix: choose from png, jpeg, gif, webp, pdf, txt" in problem


def test_the_ticket_link_defaults_to_the_api_on_the_site_and_must_name_the_ticket(project: Project) -> None:
    settings = project.load({**TEST, "SITE_URL": "https://help.example.com"}).get_all_settings()
    assert settings["SUPPORT"]["TICKET_LINK"] == "https://help.example.com/api/support/tickets/{number}/"

    [problem] = project.problems({**TEST, "SUPPORT__TICKET_LINK": "https://app.example.com/help/"})
    assert "is not an absolute link that names the ticket. Fix: write it with {number}, e.g. " in problem


def test_breaches_go_to_the_telegram_chat_of_the_site_unless_support_names_its_own(project: Project) -> None:
    settings = project.load({**TEST, "TELEGRAM__CHAT_ID": "-100"}).get_all_settings()
    assert settings["SUPPORT"]["TELEGRAM_CHAT_ID"] == "-100"
    own = project.load({**TEST, "TELEGRAM__CHAT_ID": "-100", "SUPPORT__TELEGRAM_CHAT_ID": "-200"}).get_all_settings()
    assert own["SUPPORT"]["TELEGRAM_CHAT_ID"] == "-200"
