"""The record of every provider call (LlmCall) and its cost."""

from __future__ import annotations

import logging
from decimal import Decimal

from django.db import transaction

from modules.llm.interface import Usage
from modules.llm.models import LlmCall, Operation

logger = logging.getLogger(__name__)
MILLION = Decimal(1_000_000)


def cost_of(
    input_tokens: int,
    output_tokens: int,
    *,
    price_input: Decimal | None,
    price_output: Decimal | None,
    reported: Decimal | None = None,
) -> Decimal | None:
    """The configured prices (per million tokens) when there are any, else what the provider reported, else None."""
    if price_input is None and price_output is None:
        return reported
    return (input_tokens * (price_input or 0) + output_tokens * (price_output or 0)) / MILLION


def record_call(
    *,
    provider: str,
    model: str,
    operation: Operation,
    purpose: str,
    usage: Usage | None,
    duration_ms: int,
    error: str = "",
    batch_size: int = 1,
) -> None:
    """Write one LlmCall. Never breaks the caller: a failure is logged. Inside a transaction the row is written in a
    savepoint (a failed write does not spoil the caller's transaction), and is rolled back with the transaction."""
    usage = usage or Usage()
    try:
        with transaction.atomic():
            LlmCall.objects.create(
                provider=provider[:100],
                model=model[:200],
                operation=operation,
                purpose=purpose[:200],
                input_tokens=max(0, usage.input_tokens),
                output_tokens=max(0, usage.output_tokens),
                cost=usage.cost,
                duration_ms=max(0, duration_ms),
                ok=not error,
                error=error,
                batch_size=batch_size,
            )
    except Exception as error:  # the record is secondary: the caller's answer is not lost for it
        logger.warning(
            "could not record an LLM call (%s %s %s): %s: %s", operation, provider, model, type(error).__name__, error
        )
