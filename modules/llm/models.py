from __future__ import annotations

from django.db import models
from django.utils import timezone


class Operation(models.TextChoices):
    CHAT = "chat", "Chat"
    STREAM = "stream", "Streamed chat"
    EMBED = "embed", "Embeddings"


class LlmCall(models.Model):
    """One request to a remote provider (an embedding batch is one request): written by modules.llm only.

    The builtin and local embedders run on this machine and write none."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    provider = models.CharField(max_length=100, help_text="The provider and its host, e.g. openai (api.openai.com)")
    model = models.CharField(max_length=200)
    operation = models.CharField(max_length=8, choices=Operation)
    purpose = models.CharField(max_length=200, blank=True, help_text="What the caller asked it for")
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=8, null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    ok = models.BooleanField(default=True)
    error = models.TextField(blank=True)
    batch_size = models.PositiveIntegerField(default=1, help_text="Texts embedded by the request (1 for chat)")

    class Meta:
        verbose_name = "LLM call"
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return f"{self.operation} {self.model} ({self.input_tokens}+{self.output_tokens} tokens)"
