"""One ngrok tunnel per process through the official SDK (`ngrok.forward`), and the public URL apps link with.

The SDK is a development requirement (requirements/local.txt), imported only when a tunnel opens: apps may call
public_url() and webhook_base_url() anywhere, production included, where they answer SITE_URL.

Django's autoreloader serves from a child process that it starts again on every code change. The tunnel stays in
the parent, which lives as long as the command, so its URL outlives reloads: the parent hands the URL to its
children through the environment (hand_over) and each child takes it over (take_over) before it serves.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from django.conf import settings
from django.utils.autoreload import DJANGO_AUTORELOAD_ENV

from cfg.introspection import MASK

if TYPE_CHECKING:
    from ngrok import Listener

logger = logging.getLogger(__name__)

AUTHTOKEN_PAGE = "https://dashboard.ngrok.com/get-started/your-authtoken"
NO_AUTHTOKEN = f"ngrok needs an authtoken: set NGROK__AUTHTOKEN ({AUTHTOKEN_PAGE})"
# Where the SDK connects when NGROK__SERVER_ADDR is empty.
NGROK_SERVICE = "connect.ngrok-agent.com:443"
HANDOVER_VARIABLE = "RUNSERVER_NGROK_URL"
CLOSE_TIMEOUT = 5.0


class NgrokError(Exception):
    """The tunnel could not be opened; the message is one line that says why and what to do."""


@dataclass
class _Tunnel:
    url: str | None = None
    # Only in the process that opened the tunnel; a reloader's child knows the URL alone.
    listener: Listener | None = None
    sdk_used: bool = False


_tunnel = _Tunnel()
_lock = threading.Lock()


def open_tunnel(addr: str) -> str:
    """Open a tunnel to `addr` (host:port of the local server) as settings.NGROK says; return its public URL."""
    conf = settings.NGROK
    authtoken: str = conf["AUTHTOKEN"]
    if not authtoken:
        raise NgrokError(NO_AUTHTOKEN)
    with _lock:
        if _tunnel.listener is not None:
            raise NgrokError(f"this process has a tunnel open already ({_tunnel.url}); close it first")
        try:
            import ngrok
        except ImportError:
            raise NgrokError("the ngrok package is not installed: pip install -r requirements/local.txt") from None
        # A session of its own: the SDK otherwise reuses the process's first one, with that one's authtoken.
        options: dict[str, Any] = {"authtoken": authtoken, "force_new_session": True}
        if conf["DOMAIN"]:
            options["domain"] = conf["DOMAIN"]
        if conf["SERVER_ADDR"]:
            options["server_addr"] = conf["SERVER_ADDR"]
        _tunnel.sdk_used = True
        server = conf["SERVER_ADDR"] or NGROK_SERVICE
        listener = _forward(ngrok.forward, addr, options, timeout=conf["CONNECT_TIMEOUT"], server=server)
        url = listener.url()
        _tunnel.listener, _tunnel.url = listener, url
        return url


def _forward(
    forward: Callable[..., Listener], addr: str, options: dict[str, Any], *, timeout: float, server: str
) -> Listener:
    """forward() given at most `timeout` seconds: the SDK takes no timeout, and a network that drops packets would
    keep it waiting."""
    outcome: dict[str, Any] = {}

    def attempt() -> None:
        try:
            outcome["listener"] = forward(addr, **options)
        except Exception as error:  # ValueError from the SDK; anything its Python wrapper meets
            outcome["error"] = error

    thread = threading.Thread(target=attempt, name="ngrok-forward", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise NgrokError(
            f"ngrok's service at {server} did not answer within {timeout:g} s: check the network connection "
            "(or raise NGROK__CONNECT_TIMEOUT)"
        )
    if "error" in outcome:
        error = outcome["error"]
        raise NgrokError(describe(error, authtoken=options["authtoken"], server=server)) from error
    listener: Listener = outcome["listener"]
    return listener


def describe(error: BaseException, *, authtoken: str, server: str) -> str:
    """One line from an SDK error: its parts (what failed, then why) may span lines and quote the authtoken."""
    parts = [" ".join(str(part).split()) for part in error.args] or [type(error).__name__]
    if authtoken:
        parts = [part.replace(authtoken, MASK) for part in parts]
    cause = "; ".join(parts[1:]) or parts[0]
    if "authentication" in cause.lower() or any(code in cause for code in ("ERR_NGROK_105", "ERR_NGROK_107")):
        return f"ngrok refused the authtoken ({cause}): check NGROK__AUTHTOKEN ({AUTHTOKEN_PAGE})"
    if parts[0] == "failed to connect session":
        return f"ngrok's service at {server} cannot be reached ({cause}): check the network connection"
    return f"ngrok could not open the tunnel: {': '.join(parts)}"


def close_tunnel() -> None:
    """Close the tunnel this process opened, and forget the URL (public_url() is SITE_URL again)."""
    with _lock:
        listener, url = _tunnel.listener, _tunnel.url
        _tunnel.listener = _tunnel.url = None
        if url and os.environ.get(HANDOVER_VARIABLE) == url:
            del os.environ[HANDOVER_VARIABLE]
    if listener is None:
        return
    try:
        asyncio.run(asyncio.wait_for(_close(listener), CLOSE_TIMEOUT))
    except Exception as error:  # the process is leaving: a tunnel it could not close ends with its session
        logger.warning("ngrok: could not close the tunnel %s: %s", url, describe(error, authtoken="", server=""))


async def _close(listener: Listener) -> None:
    # The SDK's close() needs a running event loop.
    await listener.close()


def hand_over(url: str) -> None:
    """Give the tunnel's URL to the autoreloader's children started from now on."""
    os.environ[HANDOVER_VARIABLE] = url


def take_over() -> str | None:
    """In an autoreloader's child: the URL of the tunnel its parent holds, which becomes this process's. None
    elsewhere."""
    if os.environ.get(DJANGO_AUTORELOAD_ENV) != "true":
        return None
    url = os.environ.get(HANDOVER_VARIABLE) or None
    if url:
        _tunnel.url = url
    return url


def tunnel_url() -> str | None:
    """The public URL of the tunnel this process serves behind, or None."""
    return _tunnel.url


def public_url() -> str:
    """The URL the outside world reaches this process at: the tunnel's when one is open, else SITE_URL."""
    return _tunnel.url or str(settings.SITE_URL)


def webhook_base_url() -> str:
    """The base of the URLs outside services call back (a Telegram webhook, a payment provider's), without a
    trailing slash: f"{webhook_base_url()}/telegram/webhook/". The tunnel's URL under runserver_ngrok, else
    SITE_URL."""
    return public_url().rstrip("/")


def sdk_used() -> bool:
    return _tunnel.sdk_used


def leave(code: int | str | None) -> NoReturn:
    """Exit without finalizing the interpreter, for a process in which the SDK ran: its native threads may touch
    the interpreter while it finalizes, which then aborts ("Fatal Python error: PyGILState_Release", exit 134;
    about every other run after a failed connection). The exit handlers run and the output is flushed first."""
    atexit._run_exitfuncs()
    if isinstance(code, str):
        print(code, file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else (0 if code is None else 1))
