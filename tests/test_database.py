"""The embedded PostgreSQL: pgvector is there, the user model is case-insensitive, routing works."""

import pytest
from django.db import IntegrityError, connection

from cfg.db.router import AppDatabaseRouter


@pytest.mark.django_db
def test_the_database_is_postgresql_with_pgvector():
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        (version,) = cursor.fetchone()
        cursor.execute("SELECT '[1,2,3]'::vector <-> '[1,2,4]'::vector")
        (distance,) = cursor.fetchone()
    assert connection.vendor == "postgresql"
    assert version.startswith("0.")
    assert distance == 1.0


@pytest.mark.django_db
def test_email_login_is_unique_whatever_its_case(django_user_model):
    django_user_model.objects.create_user(email="Ada@Example.com", password="pw-long-enough-1")
    assert django_user_model.objects.get_by_natural_key("ADA@example.COM").email == "ada@example.com"
    with pytest.raises(IntegrityError):
        django_user_model.objects.bulk_create([django_user_model(email="ADA@EXAMPLE.COM")])


class Model:
    class _meta:
        app_label = "leads"


class Other:
    class _meta:
        app_label = "accounts"


def test_router_sends_mapped_apps_to_their_alias(settings):
    settings.DATABASE_APPS_MAPPING = {"leads": "analytics"}
    router = AppDatabaseRouter()
    assert router.db_for_read(Model) == "analytics"
    assert router.db_for_write(Other) is None
    assert router.allow_migrate("analytics", "leads") is True
    assert router.allow_migrate("default", "leads") is False
    assert router.allow_migrate("analytics", "accounts") is False
    assert router.allow_relation(Model(), Other()) is False
