"""Outside services used by the modules: Telegram, Twilio, ngrok."""

from __future__ import annotations

import re

from pydantic import Field, SecretStr, field_validator

from cfg.models.base import ConfigModel

_HOST_NAME = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+")


class TelegramConfig(ConfigModel):
    bot_token: SecretStr = SecretStr("")
    """Telegram bot token (empty: Telegram off)"""
    chat_id: str = Field(default="", description="Default chat for admin notifications")
    api_base_url: str = "https://api.telegram.org"
    """Provider API base URL (tests point it at a local server)"""
    timeout: int = Field(default=10, ge=1)
    """Seconds per request"""
    max_retries: int = Field(default=3, ge=0, le=10, description="Retries on 429 and 5xx answers")
    backoff_seconds: float = Field(default=1.0, ge=0, description="First retry delay; doubles each time")
    max_retry_after: int = Field(default=60, ge=0, description="Longest retry_after wait honoured, in seconds")

    @property
    def enabled(self) -> bool:
        return bool(self.bot_token.get_secret_value())


class TwilioConfig(ConfigModel):
    account_sid: str = ""
    """Twilio account SID (empty: Twilio off)"""
    auth_token: SecretStr = SecretStr("")
    """Twilio auth token"""
    from_number: str = Field(default="", description="E.164 number that sends SMS")
    whatsapp_from: str = Field(default="", description="E.164 number that sends WhatsApp messages")
    verify_service_sid: str = ""
    """Twilio Verify service SID (empty: codes are ours)"""
    api_base_url: str = Field(default="", description="Empty uses Twilio's own; tests point it at a local server")
    timeout: int = Field(default=10, ge=1)
    """Seconds per request"""

    @property
    def enabled(self) -> bool:
        return bool(self.account_sid and self.auth_token.get_secret_value())


class NgrokConfig(ConfigModel):
    """`manage.py runserver_ngrok` (modules/ngrok, development only): the dev server behind a public HTTPS URL."""

    authtoken: SecretStr = SecretStr("")
    """ngrok authtoken from https://dashboard.ngrok.com/get-started/your-authtoken (empty: runserver_ngrok refuses)"""
    domain: str = ""
    """Your reserved ngrok domain, e.g. myapp.ngrok.app (empty: ngrok picks one)"""
    server_addr: str = ""
    """host:port of the ngrok service (empty: ngrok's own; tests point it at a local address)"""
    connect_timeout: int = Field(default=15, ge=1, le=300)
    """Seconds to wait for the tunnel to open"""

    @property
    def enabled(self) -> bool:
        return bool(self.authtoken.get_secret_value())

    @field_validator("domain")
    @classmethod
    def _domain_is_a_host_name(cls, value: str) -> str:
        host = value.strip().lower()
        if host and not _HOST_NAME.fullmatch(host):
            raise ValueError(f"{value!r} is not a host name; write the domain alone, e.g. myapp.ngrok.app")
        return host

    @field_validator("server_addr")
    @classmethod
    def _server_addr_is_host_and_port(cls, value: str) -> str:
        host, colon, port = value.strip().rpartition(":")
        if value and not (colon and host and port.isdigit() and 0 < int(port) < 65536):
            raise ValueError(f"{value!r} is not host:port; write e.g. connect.ngrok-agent.com:443")
        return value.strip()
