from __future__ import annotations

import ipaddress

from pydantic import Field, field_validator

from cfg.models.base import CommaList, ConfigModel

DEFAULT_CSP: dict[str, tuple[str, ...]] = {
    "default-src": ("'self'",),
    # Scripts from files only: no inline code, no eval (the API docs load their start-up code from a URL too).
    "script-src": ("'self'",),
    "style-src": ("'self'", "'unsafe-inline'"),
    "img-src": ("'self'", "data:"),
    "font-src": ("'self'", "data:"),
    "connect-src": ("'self'",),
    # Redoc searches in a web worker it builds from a blob.
    "worker-src": ("'self'", "blob:"),
    "object-src": ("'none'",),
    "base-uri": ("'self'",),
    "form-action": ("'self'",),
    "frame-ancestors": ("'none'",),
}
# IPv6 ranges that hold every IPv4 address (mapped, NAT64, 6to4): as wide as 0.0.0.0/0 unless narrowed a lot.
IPV4_IN_IPV6 = tuple(ipaddress.IPv6Network(net) for net in ("::ffff:0:0/96", "64:ff9b::/96", "2002::/16"))
# Unfold's Alpine.js compiles the admin's x-data and x-on expressions with new Function: the admin's pages, and only
# they, need 'unsafe-eval'. They have no inline scripts.
DEFAULT_ADMIN_CSP: dict[str, tuple[str, ...]] = {"script-src": ("'self'", "'unsafe-eval'")}


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
    admin_csp: dict[str, tuple[str, ...]] = Field(default_factory=lambda: dict(DEFAULT_ADMIN_CSP))
    """Directives that replace those of `csp` on the admin's pages (YAML mapping of directive to sources)"""
    trusted_proxies: CommaList = Field(default=())
    """Proxies you run in front (addresses or networks): only their X-Forwarded-For is believed; empty trusts none"""
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, le=1024**3)
    """Largest request body with files (multipart) to the admin's pages; others stop at DATA_UPLOAD_MAX_MEMORY_SIZE"""
    admin_login_failure_limit: int = Field(default=5, ge=1, le=100)
    """Wrong admin passwords for one username from one IP before that pair is locked out"""
    admin_login_cooloff_minutes: int = Field(default=15, ge=1, le=7 * 24 * 60)
    """Minutes a locked-out admin username and IP pair waits before it may try again"""

    @field_validator("csrf_trusted_origins", "cors_allowed_origins")
    @classmethod
    def _origins_have_scheme(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        for origin in origins:
            if not origin.startswith(("http://", "https://")):
                raise ValueError(f"origin {origin!r} has no scheme; write it as https://{origin}")
        return origins

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, proxies: tuple[str, ...]) -> tuple[str, ...]:
        for proxy in proxies:
            try:
                network = ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(
                    f"{proxy!r} is not an IP address or network; write e.g. 10.0.0.5 or 172.30.0.0/24"
                ) from None
            ipv4_wide = any(network.overlaps(v4) and network.prefixlen < v4.prefixlen + 8 for v4 in IPV4_IN_IPV6)
            if network.prefixlen < (8 if network.version == 4 else 16) or ipv4_wide:
                # Every client in it could claim any address: the throttles and admin lock-out would count nothing.
                raise ValueError(
                    f"{proxy!r} trusts a large part of the internet to name the client; list the addresses or the "
                    "network of your own proxies, e.g. 172.30.0.0/24"
                )
        return proxies

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts_are_not_urls(cls, hosts: tuple[str, ...]) -> tuple[str, ...]:
        for host in hosts:
            if "://" in host or "/" in host:
                bare = host.split("://")[-1].split("/")[0]
                raise ValueError(f"host {host!r} is a URL, not a host name; write only the host, e.g. {bare}")
        return hosts
