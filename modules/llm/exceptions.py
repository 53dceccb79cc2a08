"""The errors of modules/llm. Each carries its HTTP status, for the API's exception handler (modules.api)."""

from __future__ import annotations

from rest_framework import status

from modules.api.exceptions import ServiceError


class LlmError(ServiceError):
    """The base of every error of modules/llm."""

    status_code: int = status.HTTP_502_BAD_GATEWAY
    code = "llm_error"
    message = "The language model provider gave an answer that could not be used."


class ChatNotConfigured(LlmError):
    """Chat was asked for and no chat provider is configured (the builtin provider only embeds)."""

    status_code: int = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "chat_not_configured"
    message = (
        "No chat model is configured: set LLM__CHAT_PROVIDER=openai with LLM__BASE_URL and LLM__API_KEY "
        "(see docs/llm.md)."
    )


class LlmMisconfigured(LlmError):
    """The configuration names a provider that cannot work here (a missing extra, a model of another size)."""

    status_code: int = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "llm_misconfigured"
    message = "The language model provider is not configured correctly."


class ProviderUnavailable(LlmError):
    """The provider could not be reached, timed out, was overloaded or rate limited, after the retries. 503 when it
    did not answer in time or asked us to wait; 502 when it answered with a server error."""

    status_code: int = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "llm_unavailable"
    message = "The language model provider is unavailable. Try again later."

    def __init__(self, message: str | None = None, *, status_code: int | None = None) -> None:
        super().__init__(message)
        if status_code is not None:
            self.status_code = status_code


class ProviderRejected(LlmError):
    """The provider refused the request (a 4xx other than 429: a bad key, an unknown model, a malformed request)."""

    status_code: int = status.HTTP_502_BAD_GATEWAY
    code = "llm_rejected"
    message = "The language model provider refused the request."
