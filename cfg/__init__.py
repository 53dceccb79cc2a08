"""The configuration framework.

`import cfg` is cheap: it imports no Django and no app. Public names resolve lazily
through the registry on first attribute access (`cfg.DjangoConfig`, `cfg.get_logger`).
"""

from typing import Any

from cfg.registry import names, register, resolve

__all__ = ["names", "register", "resolve"]


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    return resolve(name)


def __dir__() -> list[str]:
    return sorted(set(__all__) | set(names()))
