"""What the apps see of a provider: an Embedder, a ChatModel, and the frozen values they take and give."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, Protocol

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True)
class Usage:
    """Tokens of one call (or the sum of a batch), and its cost when prices are configured or the provider says."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost: Decimal | None = None

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class ToolSpec:
    """A function the model may call: `parameters` is its JSON schema (an object schema)."""

    name: str
    description: str
    parameters: Mapping[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})


@dataclass(frozen=True)
class ToolCall:
    """The model asks for `name` to be called with `arguments` (parsed from the JSON it wrote)."""

    id: str
    name: str
    arguments: Mapping[str, Any]


@dataclass(frozen=True)
class ChatMessage:
    """One message of a conversation. An assistant's message may carry tool calls; a tool's answer names the call
    it answers in tool_call_id."""

    role: Role
    content: str
    tool_call_id: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True)
class ChatReply:
    text: str
    tool_calls: tuple[ToolCall, ...]
    usage: Usage


@dataclass(frozen=True)
class ChatDelta:
    """A piece of a streamed answer. The last one of a stream has no text and carries the usage of the call."""

    text: str
    usage: Usage | None = None


class Embedder(Protocol):
    name: str
    """Names the embedder and its model, e.g. builtin-hashing-384: stored vectors of another name are not comparable"""
    dimensions: int
    semantic: bool
    """False for the builtin embedder: its vectors match words, not meanings"""
    label: str
    """For people, e.g. "builtin feature hashing (lexical, not semantic)" """
    max_input_words: int
    """Advice for chunk sizes: past about this many words the model ignores the rest (or dilutes it)"""

    def embed_documents(self, texts: Sequence[str], *, purpose: str = "") -> list[list[float]]:
        """One unit-length vector per text, in order; batched internally."""

    def embed_query(self, text: str, *, purpose: str = "") -> list[float]:
        """The vector of one search query."""


class ChatModel(Protocol):
    name: str

    def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolSpec] = (),
        purpose: str = "",
        max_tokens: int | None = None,
    ) -> ChatReply:
        """The model's whole answer: its text, the tool calls it asked for, and the usage."""

    def stream(
        self, messages: Sequence[ChatMessage], *, purpose: str = "", max_tokens: int | None = None
    ) -> Iterator[ChatDelta]:
        """Text deltas as they come; the last item carries the usage."""
