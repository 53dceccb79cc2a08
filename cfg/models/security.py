from __future__ import annotations

from pydantic import Field, field_validator

from cfg.models.base import CommaList, ConfigModel

DEFAULT_CSP: dict[str, tuple[str, ...]] = {
    "default-src": ("'self'",),
    # Unfold's Alpine.js evaluates expressions and the admin and API docs use inline code.
    "script-src": ("'self'", "'unsafe-inline'", "'unsafe-eval'"),
    "style-src": ("'self'", "'unsafe-inline'"),
    "img-src": ("'self'", "data:"),
    "font-src": ("'self'", "data:"),
    "connect-src": ("'self'",),
    "object-src": ("'none'",),
    "base-uri": ("'self'",),
    "form-action": ("'self'",),
    "frame-ancestors": ("'none'",),
}


class SecurityConfig(ConfigModel):
    allowed_hosts: CommaList = Field(default=("localhost", "127.0.0.1", "[::1]"))
    """Host names the site answers to; required in production, no wildcards"""
    csrf_trusted_origins: CommaList = Field(default=(), description="e.g. https://example.com")
    cors_allowed_origins: CommaList = Field(default=(), description="Origins allowed by CORS")
    cors_allow_credentials: bool = False
    """Allow cookies on cross-origin requests"""
    ssl_redirect: bool = False
    """Redirect HTTP to HTTPS (health endpoints exempt)"""
    hsts_seconds: int = Field(default=0, ge=0)
    """Strict-Transport-Security max-age; production needs 31536000+"""
    hsts_include_subdomains: bool = False
    """HSTS for subdomains too"""
    hsts_preload: bool = False
    """Ask browsers to preload HSTS"""
    secure_cookies: bool = False
    """Session and CSRF cookies only over HTTPS"""
    behind_proxy: bool = Field(default=False, description="Trust X-Forwarded-Proto from the proxy in front")
    csp: dict[str, tuple[str, ...]] = Field(default_factory=lambda: dict(DEFAULT_CSP))
    """Content-Security-Policy directives (YAML mapping of directive to sources)"""
    csp_report_only: bool = Field(default=False, description="Report CSP violations instead of blocking")

    @field_validator("csrf_trusted_origins", "cors_allowed_origins")
    @classmethod
    def _origins_have_scheme(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        for origin in origins:
            if not origin.startswith(("http://", "https://")):
                raise ValueError(f"origin {origin!r} has no scheme; write it as https://{origin}")
        return origins

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts_are_not_urls(cls, hosts: tuple[str, ...]) -> tuple[str, ...]:
        for host in hosts:
            if "://" in host or "/" in host:
                bare = host.split("://")[-1].split("/")[0]
                raise ValueError(f"host {host!r} is a URL, not a host name; write only the host, e.g. {bare}")
        return hosts
