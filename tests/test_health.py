import pytest
from django.db import connections


def test_healthz_answers_without_io(client):
    # No django_db mark: any database access here would raise.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_reports_each_check_with_timing(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok"
    assert {"database", "cache", "migrations"} <= set(body["checks"])
    for check in body["checks"].values():
        assert check["status"] == "ok"
        assert isinstance(check["ms"], float)


@pytest.mark.django_db(transaction=True)
def test_readyz_is_503_when_the_database_cannot_be_reached(client, monkeypatch):
    connection = connections["default"]
    connection.close()
    real_params = connection.get_connection_params
    unreachable = {"host": "127.0.0.1", "port": 1, "connect_timeout": 2}
    monkeypatch.setattr(connection, "get_connection_params", lambda: {**real_params(), **unreachable})
    try:
        response = client.get("/readyz")
    finally:
        connection.close()
        monkeypatch.undo()
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["checks"]["database"]["status"] == "error"
    assert "OperationalError" in body["checks"]["database"]["detail"]


@pytest.mark.django_db
def test_readyz_shows_only_its_status_to_an_outside_client(client, settings):
    settings.TRUSTED_PROXIES = []
    response = client.get("/readyz", REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR="127.0.0.1")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_shows_its_checks_to_staff_and_to_the_machine_itself(client, django_user_model):
    assert "checks" in client.get("/readyz", REMOTE_ADDR="::1").json()
    staff = django_user_model.objects.create_user(email="ops@example.com", is_staff=True)
    client.force_login(staff)
    assert "checks" in client.get("/readyz", REMOTE_ADDR="203.0.113.7").json()
    visitor = django_user_model.objects.create_user(email="visitor@example.com")
    client.force_login(visitor)
    assert client.get("/readyz", REMOTE_ADDR="203.0.113.7").json() == {"status": "ok"}


@pytest.mark.django_db
def test_outside_callers_share_one_answer_a_second(client, settings, monkeypatch):
    from modules.health import views

    calls = []
    monkeypatch.setattr(views, "run_readiness_checks", lambda: calls.append(1) or (True, {}))
    monkeypatch.setattr(views, "_public_answer", (float("-inf"), False))
    for _ in range(20):
        assert client.get("/readyz", REMOTE_ADDR="203.0.113.7").json() == {"status": "ok"}
    assert len(calls) == 1
    client.get("/readyz")  # the machine itself always gets fresh checks
    assert len(calls) == 2
