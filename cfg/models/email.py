from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator

from cfg.models.base import ConfigModel

EMAIL_BACKENDS = {
    "console": "django.core.mail.backends.console.EmailBackend",
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
    "file": "django.core.mail.backends.filebased.EmailBackend",
    "locmem": "django.core.mail.backends.locmem.EmailBackend",
}


class EmailConfig(ConfigModel):
    backend: Literal["console", "smtp", "file", "locmem"] = "console"
    """console | smtp | file | locmem"""
    host: str = "localhost"
    """SMTP host"""
    port: int = Field(default=25, ge=1, le=65535)
    """SMTP port"""
    username: str = ""
    """SMTP user"""
    password: SecretStr = SecretStr("")
    """SMTP password"""
    use_tls: bool = False
    """STARTTLS (port 587)"""
    use_ssl: bool = False
    """Implicit TLS (port 465)"""
    timeout: int = Field(default=10, ge=1, description="Seconds")
    default_from: str = "noreply@localhost"
    """From address of outgoing mail"""
    file_path: str = ".data/mail"
    """Folder for the file backend, relative to the project"""

    @field_validator("use_ssl")
    @classmethod
    def _one_transport_security(cls, use_ssl: bool, info: ValidationInfo) -> bool:
        if use_ssl and info.data.get("use_tls"):
            raise ValueError(
                "use_ssl and use_tls are both on, and they exclude each other; "
                "turn one off: use_tls for port 587 (STARTTLS), use_ssl for port 465"
            )
        return use_ssl
