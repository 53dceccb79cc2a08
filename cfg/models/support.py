"""The support app: SLA targets by priority, auto-close, attachments, live updates and notifications."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field, field_validator

from cfg.models.base import ConfigModel, Rate
from cfg.models.tasks import parse_json_text

PRIORITIES = ("low", "normal", "high", "urgent")
# Minutes: first response within a working day for low, half an hour for urgent; resolution a week down to 4 hours.
DEFAULT_FIRST_RESPONSE = {"low": 1440, "normal": 480, "high": 120, "urgent": 30}
DEFAULT_RESOLUTION = {"low": 10_080, "normal": 2880, "high": 1440, "urgent": 240}
ATTACHMENT_KINDS = ("png", "jpeg", "gif", "webp", "pdf", "txt")

MinutesByPriority = Annotated[dict[str, int], BeforeValidator(parse_json_text)]


class SupportConfig(ConfigModel):
    first_response_minutes: MinutesByPriority = Field(
        default_factory=lambda: dict(DEFAULT_FIRST_RESPONSE),
        description='SLA: minutes to the first staff reply, by priority (JSON, e.g. {"low": 1440, "urgent": 30})',
    )
    resolution_minutes: MinutesByPriority = Field(
        default_factory=lambda: dict(DEFAULT_RESOLUTION),
        description="SLA: minutes to resolution by priority, not counting time spent waiting for the customer",
    )
    auto_close_days: int = Field(
        default=7, ge=1, le=365, description="Days a resolved ticket stays untouched before it is closed"
    )
    attachment_max_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1024, le=100 * 1024 * 1024, description="Largest attachment, in bytes"
    )
    attachments_per_message: int = Field(default=5, ge=0, le=20, description="Most attachments on one message")
    attachment_kinds: tuple[str, ...] = Field(
        default=ATTACHMENT_KINDS,
        description="Kinds of file accepted, recognised by their content: " + ", ".join(ATTACHMENT_KINDS),
    )
    body_max_chars: int = Field(default=20_000, ge=100, le=200_000, description="Longest message, in characters")
    throttle_create: Rate = Field(default="20/hour", description="Tickets one customer may open")
    throttle_reply: Rate = Field(default="120/hour", description="Replies and uploads one customer may send")
    ticket_link: str = Field(
        default="",
        description="Link to a ticket in the requester's emails, with {number}, e.g. https://app.example.com/help/"
        "{number} (empty: the ticket's API address on SITE_URL)",
    )
    telegram_chat_id: str = Field(default="", description="Chat told of SLA breaches (empty: TELEGRAM__CHAT_ID)")
    stream_seconds: int = Field(
        default=300, ge=10, le=3600, description="Seconds an event stream stays open before the client reconnects"
    )
    heartbeat_seconds: int = Field(default=15, ge=1, le=120, description="Seconds between keep-alive comments")

    @field_validator("first_response_minutes", "resolution_minutes")
    @classmethod
    def _every_priority(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(value) - set(PRIORITIES))
        if unknown:
            raise ValueError(f"unknown priorities {unknown}; use {', '.join(PRIORITIES)}")
        missing = [priority for priority in PRIORITIES if priority not in value]
        if missing:
            raise ValueError(
                f"{', '.join(missing)} has no minutes; give minutes for every priority: {', '.join(PRIORITIES)}"
            )
        if any(minutes < 1 for minutes in value.values()):
            raise ValueError("minutes must be at least 1; give each priority 1 minute or more")
        return {priority: value[priority] for priority in PRIORITIES}

    @field_validator("ticket_link")
    @classmethod
    def _link_names_the_ticket(cls, value: str) -> str:
        if value and ("{number}" not in value or not value.startswith(("http://", "https://"))):
            raise ValueError(
                "is not an absolute link that names the ticket; write it with {number}, e.g. "
                "https://app.example.com/help/{number}"
            )
        return value

    @field_validator("attachment_kinds", mode="before")
    @classmethod
    def _known_kinds(cls, value: object) -> object:
        kinds = (
            tuple(part.strip().lower() for part in value.split(",") if part.strip())
            if isinstance(value, str)
            else value
        )
        if isinstance(kinds, (list, tuple)):
            unknown = sorted(set(kinds) - set(ATTACHMENT_KINDS))
            if unknown:
                raise ValueError(f"unknown kinds {unknown}; choose from {', '.join(ATTACHMENT_KINDS)}")
        return kinds
