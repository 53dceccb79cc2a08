from __future__ import annotations

from typing import Literal

from pydantic import Field

from cfg.models.base import ConfigModel


class CacheConfig(ConfigModel):
    backend: Literal["auto", "redis", "locmem", "dummy"] = Field(
        default="auto", description="auto: Redis when REDIS_URL is set, else local memory"
    )
    default_timeout: int = Field(default=300, ge=0, description="Seconds")
    key_prefix: str = ""
    """Prefix of every cache key; empty uses the project slug"""
