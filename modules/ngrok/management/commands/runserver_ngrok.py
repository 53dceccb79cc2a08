"""runserver_ngrok: Django's runserver behind a public HTTPS URL from ngrok, in development only.

The tunnel opens once, in the process that stays while the autoreloader restarts the server's child process
(modules/ngrok/tunnel.py), and closes when the command ends.
"""

from __future__ import annotations

import ipaddress
from contextlib import nullcontext
from typing import IO, Any, cast
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.staticfiles.management.commands.runserver import Command as RunserverCommand
from django.core.management.base import CommandError
from rich.console import Console

from modules.ngrok import tunnel


def trust(url: str) -> None:
    """Let this process answer requests that come through the tunnel: its host in ALLOWED_HOSTS, its origin in
    CSRF_TRUSTED_ORIGINS (the dev server sees plain HTTP, so Django would not match an https Origin to its host)."""
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    if parts.hostname and parts.hostname not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, parts.hostname]
    if origin not in settings.CSRF_TRUSTED_ORIGINS:
        settings.CSRF_TRUSTED_ORIGINS = [*settings.CSRF_TRUSTED_ORIGINS, origin]


class Command(RunserverCommand):
    # Set by runserver's handle() from the addrport argument.
    addr: str
    port: str
    help = (
        "Run the development server behind a public HTTPS URL from ngrok (NGROK__AUTHTOKEN; development only). The "
        "URL is printed, trusted in ALLOWED_HOSTS and CSRF_TRUSTED_ORIGINS for this server, and given to apps by "
        "modules.ngrok.tunnel.webhook_base_url()."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.ENVIRONMENT != "development":
            raise CommandError(
                f"runserver_ngrok is for development only (DJANGO_ENV is {settings.ENVIRONMENT}): it exposes the "
                "development server to the internet"
            )
        if not settings.NGROK["AUTHTOKEN"]:
            raise CommandError(tunnel.NO_AUTHTOKEN)
        super().handle(*args, **options)

    def run(self, **options: Any) -> None:
        """Runs after runserver has read the address and port, before it starts its server."""
        inherited = tunnel.take_over()
        if inherited:
            trust(inherited)
            super().run(**options)
            return
        target = self.local_address()
        console = Console(file=cast(IO[str], self.stdout), highlight=False)
        # A spinner on a terminal; elsewhere (a log, a pipe) only the outcome is written.
        opening = console.status(f"Opening an ngrok tunnel to {target} ...") if console.is_terminal else nullcontext()
        try:
            with opening:
                url = tunnel.open_tunnel(target)
        except tunnel.NgrokError as error:
            raise CommandError(str(error)) from error
        try:
            trust(url)
            tunnel.hand_over(url)
            self.stdout.write(self.style.SUCCESS(f"ngrok tunnel: {url} -> http://{target}"))
            self.stdout.write(
                f"  {urlsplit(url).hostname} is trusted (ALLOWED_HOSTS, CSRF_TRUSTED_ORIGINS) by this server only; "
                "apps build webhook URLs with webhook_base_url()."
            )
            super().run(**options)
        finally:
            tunnel.close_tunnel()
            self.stdout.write(f"ngrok tunnel {url} closed.")

    def local_address(self) -> str:
        """Where the tunnel forwards to: the server's address and port, loopback for a wildcard address."""
        host = self.addr
        try:
            address = ipaddress.ip_address(0 if host == "0" else host)  # runserver takes "0" for 0.0.0.0
        except ValueError:  # a host name
            return f"{host}:{self.port}"
        if address.is_unspecified:
            address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
        return f"[{address}]:{self.port}" if address.version == 6 else f"{address}:{self.port}"

    def run_from_argv(self, argv: list[str]) -> None:
        try:
            super().run_from_argv(argv)
        except SystemExit as stop:
            if tunnel.sdk_used():
                tunnel.leave(stop.code)
            raise
        if tunnel.sdk_used():
            tunnel.leave(0)
