from django.db import migrations
from pgvector.django import VectorExtension


class Migration(migrations.Migration):
    """pgvector for every app that stores embeddings (knowbase, agents)."""

    dependencies: list[tuple[str, str]] = []
    operations = [VectorExtension()]
