"""Outside services used by the modules: Telegram, Twilio, ngrok."""

from __future__ import annotations

from pydantic import Field, SecretStr

from cfg.models.base import ConfigModel


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
    enabled: bool = False
    """Open an ngrok tunnel in development (not built yet)"""
    authtoken: SecretStr = SecretStr("")
    """ngrok auth token (not built yet)"""
    domain: str = ""
    """Reserved ngrok domain (not built yet)"""
