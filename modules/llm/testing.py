"""A local HTTP server that speaks the OpenAI API, for tests (this module's and any app's).

    with openai_stand_in() as api:
        settings.LLM = stand_in_settings(api)        # or llm_section(LlmConfig(..., base_url=api.base_url))
        api.reply("Hello", usage=(12, 3))            # the next chat answer (else an echo of the last message)
        api.fail(429, retry_after=1)                  # the next request is refused, then answered normally
        code_under_test()                             # its calls get what was queued above
        api.requests                                  # every request: path, headers, JSON body, arrival time

It serves POST /v1/chat/completions (JSON, or server-sent events when "stream" is true, with a final usage chunk
when stream_options.include_usage is), POST /v1/embeddings (deterministic vectors of the requested or configured
size: the builtin embedder's, so similar texts stay similar) and GET /v1/models.
"""

from __future__ import annotations

import base64
import json
import struct
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from cfg.models.llm import LlmConfig
from cfg.settings.llm import llm_section
from modules.llm.hashing import HashingEmbedder

MODEL = "stand-in-model"
StreamEnd = Literal["finished", "cut", "malformed"]
# A tool call the stand-in answers with: (name, arguments), or (name, arguments, id) for a model that picks its ids.
ScriptedCall = tuple[str, Mapping[str, Any] | str] | tuple[str, Mapping[str, Any] | str, str]


@dataclass(frozen=True)
class StandInRequest:
    method: str
    path: str
    headers: Mapping[str, str]
    """Names in lower case"""
    body: Mapping[str, Any]
    at: float
    """time.monotonic() when it arrived"""


@dataclass
class _Failure:
    status: int
    message: str
    headers: dict[str, str]
    path: str | None


@dataclass
class _Reply:
    text: str
    tool_calls: Sequence[ScriptedCall]
    usage: tuple[int, int] | None
    cost: float | None
    stream_end: StreamEnd = "finished"
    first_call_number: int = 1
    """Tool call ids are call_<n>, numbered across the stand-in's replies (a model's ids are unique in a run)"""


@dataclass
class OpenAIStandIn:
    url: str = ""
    embedding_dimensions: int = 384
    """The size of embeddings when a request does not ask for one (models that cannot be resized)"""
    requests: list[StandInRequest] = field(default_factory=list)
    _replies: list[_Reply] = field(default_factory=list)
    _failures: list[_Failure] = field(default_factory=list)
    _delays: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _closing: threading.Event = field(default_factory=threading.Event)
    _calls_numbered: int = 0

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def reply(
        self,
        text: str = "",
        *,
        tool_calls: Sequence[ScriptedCall] = (),
        usage: tuple[int, int] | None = None,
        cost: float | None = None,
        stream_end: StreamEnd = "finished",
    ) -> None:
        """Answer the next chat request with `text` and tool calls (name, arguments as a mapping, or as the raw
        JSON text a model wrote; a third item sets the call's id, else ids run call_1, call_2…); `usage` is
        (prompt tokens, completion tokens), else words are counted; `cost` is added to the usage as OpenRouter does.
        A streamed answer may end otherwise: `cut` (the connection closes before the model finished), `malformed`
        (a chunk that is not JSON)."""
        with self._lock:
            self._replies.append(_Reply(text, tool_calls, usage, cost, stream_end, self._calls_numbered + 1))
            self._calls_numbered += len(tool_calls)

    def fail(
        self,
        status: int,
        message: str = "",
        *,
        retry_after: float | None = None,
        times: int = 1,
        path: str | None = None,
    ) -> None:
        """Refuse the next `times` requests (to `path` only, e.g. "/v1/embeddings", when given) with `status`."""
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        with self._lock:
            self._failures.extend(
                _Failure(status, message or f"stand-in error {status}", headers, path) for _ in range(times)
            )

    def delay(self, seconds: float, *, times: int = 1) -> None:
        """Answer the next `times` requests only after `seconds` (a client with a shorter timeout gives up)."""
        with self._lock:
            self._delays.extend([seconds] * times)

    def requests_to(self, path: str) -> list[StandInRequest]:
        return [request for request in self.requests if request.path == path]

    @property
    def chat_requests(self) -> list[StandInRequest]:
        return self.requests_to("/v1/chat/completions")

    @property
    def embedding_requests(self) -> list[StandInRequest]:
        return self.requests_to("/v1/embeddings")

    # The server's side.

    def _take(self, path: str) -> tuple[float, _Failure | None]:
        with self._lock:
            delay = self._delays.pop(0) if self._delays else 0.0
            for index, failure in enumerate(self._failures):
                if failure.path in (None, path):
                    return delay, self._failures.pop(index)
            return delay, None

    def _next_reply(self, body: Mapping[str, Any]) -> _Reply:
        with self._lock:
            if self._replies:
                return self._replies.pop(0)
        messages = body.get("messages") or [{}]
        return _Reply(f"You said: {_text(messages[-1].get('content'))}", (), None, None)

    def _completion(self, body: Mapping[str, Any]) -> dict[str, Any]:
        reply = self._next_reply(body)
        message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
        if reply.tool_calls:
            message["tool_calls"] = _tool_calls(reply)
        return {
            "id": "chatcmpl-stand-in",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", MODEL),
            "choices": [
                {"index": 0, "message": message, "finish_reason": "tool_calls" if reply.tool_calls else "stop"}
            ],
            "usage": _usage(body, reply),
        }

    def _stream(self, body: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        reply = self._next_reply(body)
        base = {"id": "chatcmpl-stand-in", "object": "chat.completion.chunk", "created": int(time.time())}
        base["model"] = body.get("model", MODEL)
        words = reply.text.split(" ")
        pieces = [word if index == 0 else f" {word}" for index, word in enumerate(words)] if reply.text else []
        for index, piece in enumerate(pieces):
            delta = {"role": "assistant", "content": piece} if index == 0 else {"content": piece}
            yield {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
        if reply.stream_end != "finished":
            yield {"stream_end": reply.stream_end}
            return
        if reply.tool_calls:
            calls = [{"index": index, **call} for index, call in enumerate(_tool_calls(reply))]
            yield {**base, "choices": [{"index": 0, "delta": {"tool_calls": calls}, "finish_reason": None}]}
        finish = "tool_calls" if reply.tool_calls else "stop"
        yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}
        if (body.get("stream_options") or {}).get("include_usage"):
            yield {**base, "choices": [], "usage": _usage(body, reply)}

    def _embeddings(self, body: Mapping[str, Any]) -> dict[str, Any]:
        texts = body.get("input", [])
        texts = [texts] if isinstance(texts, str) else list(texts)
        dimensions = int(body.get("dimensions") or self.embedding_dimensions)
        vectors = HashingEmbedder(dimensions).embed_documents([_text(text) for text in texts])
        as_base64 = body.get("encoding_format") == "base64"
        data = [
            {
                "object": "embedding",
                "index": index,
                "embedding": base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
                if as_base64
                else vector,
            }
            for index, vector in enumerate(vectors)
        ]
        tokens = sum(len(_text(text).split()) for text in texts)
        return {
            "object": "list",
            "data": data,
            "model": body.get("model", MODEL),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return "" if content is None else str(content)


def _tool_calls(reply: _Reply) -> list[dict[str, Any]]:
    calls = []
    for number, (name, arguments, *given) in enumerate(reply.tool_calls, start=reply.first_call_number):
        call_id = given[0] if given else f"call_{number}"
        calls.append(
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": _json_text(arguments)}}
        )
    return calls


def _json_text(arguments: Mapping[str, Any] | str) -> str:
    """Arguments as JSON, or as written (a test of a model that writes broken JSON)."""
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def _usage(body: Mapping[str, Any], reply: _Reply) -> dict[str, Any]:
    if reply.usage is not None:
        prompt, completion = reply.usage
    else:
        prompt = sum(len(_text(message.get("content")).split()) for message in body.get("messages", []))
        completion = len(reply.text.split())
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if reply.cost is not None:
        usage["cost"] = reply.cost
    return usage


class _Handler(BaseHTTPRequestHandler):
    stand_in: OpenAIStandIn

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        stand_in = self.stand_in
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = self.path.split("?")[0]
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {"_raw": raw.decode(errors="replace")}
        headers = {name.lower(): value for name, value in self.headers.items()}
        stand_in.requests.append(StandInRequest(self.command, path, headers, body, time.monotonic()))
        delay, failure = stand_in._take(path)
        if delay and stand_in._closing.wait(delay):
            return
        try:
            if failure is not None:
                error = {"message": failure.message, "type": "stand_in_error", "code": str(failure.status)}
                self._json(failure.status, {"error": error}, failure.headers)
            elif path == "/v1/chat/completions" and body.get("stream"):
                self._events(stand_in._stream(body))
            elif path == "/v1/chat/completions":
                self._json(200, stand_in._completion(body))
            elif path == "/v1/embeddings":
                self._json(200, stand_in._embeddings(body))
            elif path == "/v1/models":
                self._json(200, {"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "test"}]})
            else:
                self._json(404, {"error": {"message": f"no route {path}", "type": "invalid_request_error"}})
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout): what a slow answer is for

    def _json(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _events(self, chunks: Iterator[dict[str, Any]]) -> None:
        # HTTP/1.0: the body ends when the connection closes.
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        for chunk in chunks:
            if chunk.get("stream_end") == "cut":
                return
            line = "{not json" if chunk.get("stream_end") == "malformed" else json.dumps(chunk)
            self.wfile.write(f"data: {line}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output clean: the stand-in records its requests instead."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up early (a timeout test) is expected: no traceback on stderr."""


@contextmanager
def openai_stand_in(*, embedding_dimensions: int = 384) -> Iterator[OpenAIStandIn]:
    """Serve the OpenAI API on 127.0.0.1 (a free port) for the duration of the block."""
    stand_in = OpenAIStandIn(embedding_dimensions=embedding_dimensions)
    handler = type("Handler", (_Handler,), {"stand_in": stand_in})
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    stand_in.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield stand_in
    finally:
        stand_in._closing.set()
        server.shutdown()
        server.server_close()


def stand_in_settings(stand_in: OpenAIStandIn, **fields: Any) -> dict[str, Any]:
    """settings.LLM for chat and embeddings from the stand-in, with test-sized limits; `fields` are LlmConfig's."""
    values: dict[str, Any] = {
        "chat_provider": "openai",
        "embedding_provider": "openai",
        "base_url": stand_in.base_url,
        "api_key": "sk-test-key-123456",
        "chat_model": "gpt-test",
        "embedding_model": "text-embedding-3-small",
        "timeout": 5,
        "max_retries": 2,
        "max_retry_after": 5,
    }
    return llm_section(LlmConfig(**(values | fields)))
