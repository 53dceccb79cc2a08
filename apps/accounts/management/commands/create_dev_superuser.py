from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from cfg.management.base import ProjectCommand

DEV_EMAIL = "admin@example.com"


class Command(ProjectCommand):
    help = "Create the development superuser on the first run and print its credentials (development only)."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.ENVIRONMENT != "development":
            raise CommandError(f"create_dev_superuser runs in development only (this is {settings.ENVIRONMENT})")
        credentials = settings.DATA_DIR / "dev-superuser.txt"
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            where = f" (credentials in {credentials})" if credentials.exists() else ""
            self.stdout.write(f"A superuser exists already{where}.")
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(email=DEV_EMAIL, password=password)
        credentials.parent.mkdir(parents=True, exist_ok=True)
        credentials.write_text(f"email: {DEV_EMAIL}\npassword: {password}\n")
        credentials.chmod(0o600)
        self.stdout.write(self.style.SUCCESS("Created the development superuser for /admin/:"))
        self.stdout.write(f"  email:    {DEV_EMAIL}\n  password: {password}\n  (saved in {credentials})")
