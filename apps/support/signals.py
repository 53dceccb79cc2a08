"""An attachment's file goes with its row, however the row goes (a ticket deleted in the admin, a requester's
account deleted, a cascade): once the deletion commits, never for one rolled back."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from apps.support.models import Attachment


@receiver(post_delete, sender=Attachment, dispatch_uid="support_attachment_file_deleted")
def attachment_deleted(sender: type[Attachment], instance: Attachment, **kwargs: Any) -> None:
    if instance.file.name:
        storage, name = instance.file.storage, instance.file.name
        transaction.on_commit(lambda: storage.delete(name), robust=True)
