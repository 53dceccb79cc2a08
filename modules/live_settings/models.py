from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class ChangeSource(models.TextChoices):
    ADMIN = "admin", "Admin"
    OTHER = "other", "Code, shell or a command"


class LiveSettingChange(models.Model):
    """One change of a live setting: written by the application only, never edited."""

    name = models.CharField(max_length=255, db_index=True)
    old_value = models.JSONField(encoder=DjangoJSONEncoder)
    new_value = models.JSONField(encoder=DjangoJSONEncoder)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=8, choices=ChangeSource, default=ChangeSource.OTHER)
    changed_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = "live setting change"
        ordering = ("-changed_at", "-id")

    def __str__(self) -> str:
        return f"{self.name}: {self.old_value!r} → {self.new_value!r}"
