from __future__ import annotations

from pydantic import Field

from cfg.models.base import ConfigModel, Rate


class ApiConfig(ConfigModel):
    title: str = ""
    """OpenAPI title; empty uses '<project name> API'"""
    version: str = "1.0.0"
    """OpenAPI version string"""
    description: str = ""
    """OpenAPI description"""
    page_size: int = Field(default=20, ge=1, le=1000)
    """Default page size of list endpoints"""
    max_page_size: int = Field(default=100, ge=1, le=10000)
    """Largest page size a client may ask for"""
    throttle_anon: Rate = "100/hour"
    """Rate for anonymous clients, e.g. 100/hour"""
    throttle_user: Rate = "1000/hour"
    """Rate for signed-in clients, e.g. 1000/hour"""
    jwt_access_minutes: int = Field(default=15, ge=1, le=24 * 60)
    """Lifetime of an access token"""
    jwt_refresh_days: int = Field(default=7, ge=1, le=365)
    """Lifetime of a refresh token"""
    docs_enabled: bool | None = None
    """Serve /api/schema/, /api/docs/ and /api/redoc/; unset: on, except in production"""
