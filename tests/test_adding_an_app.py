"""docs/apps.md, followed step by step on a copy of the project: a new app is wired in by config/config.py alone."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

VIEWS = """from django.http import HttpRequest, JsonResponse


def ping(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"billing": "up"})
"""
URLS = """from django.urls import path

from apps.billing import views

app_name = "billing"
urlpatterns = [path("ping/", views.ping, name="ping")]
"""
HEALTH = """def check_ledger() -> str:
    return "ledger reachable"
"""
DASHBOARD = """from django.http import HttpRequest

from modules.unfold.dashboard import Card, Stat


def invoice_cards(request: HttpRequest) -> list[Card]:
    return [Stat(key="invoices_open", title="Open invoices", value=42)]
"""
PROJECT_APPS = """
    project_apps: AppList = (
        AppSpec(
            app="apps.billing",
            url_prefix="api/billing/",
            urls="apps.billing.urls",
            checks={"billing": "apps.billing.health.check_ledger"},
            navigation=(NavigationItem(title="Invoices", link="/admin/billing/", icon="receipt"),),
            dashboard=("apps.billing.dashboard.invoice_cards",),
        ),
    )
"""
PROBE = """
import json
import django
from django.conf import settings
django.setup()
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import Client

from modules.unfold.testing import dashboard_figures

client = Client()
ping = client.get("/api/billing/ping/")
ready = client.get("/readyz").json()
# The copy shares this test run's database: its superuser is rolled back.
with transaction.atomic():
    client.force_login(get_user_model().objects.create_superuser(email="probe@example.com", password="x-long-pw-12"))
    figures = dashboard_figures(client.get("/admin/").content.decode())
    transaction.set_rollback(True)
print(json.dumps({
    "ping": [ping.status_code, ping.json()],
    "checks": ready["checks"],
    "enabled": settings.ENABLED_APPS,
    "installed": "apps.billing" in settings.INSTALLED_APPS,
    "navigation": [section["title"] for section in settings.UNFOLD["SIDEBAR"]["navigation"]],
    "figures": figures,
}))
"""


def project_copy(target: Path) -> Path:
    base = Path(settings.BASE_DIR)
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=base,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for name in listed:
        source = base / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def digest(folder: Path) -> str:
    hashed = hashlib.sha256()
    for path in sorted(folder.rglob("*.py")):
        hashed.update(path.relative_to(folder).as_posix().encode() + path.read_bytes())
    return hashed.hexdigest()


def run(copy: Path, *args: str) -> subprocess.CompletedProcess[str]:
    params = connection.get_connection_params()
    # The copy uses this test run's database (already migrated), on the same embedded server.
    database_url = f"postgres://{params['user']}@/{connection.settings_dict['NAME']}?host={params['host']}"
    environ = {**os.environ, "DJANGO_ENV": "test", "DATABASE_URL": database_url}
    return subprocess.run([sys.executable, *args], cwd=copy, env=environ, capture_output=True, text=True, timeout=120)


def test_a_new_app_is_wired_in_by_the_config_alone(tmp_path: Path) -> None:
    copy = project_copy(tmp_path / "project")
    cfg_before = digest(copy / "cfg")

    # Step 1: the app itself, from startapp, named after its package.
    app = copy / "apps" / "billing"
    app.mkdir()
    started = run(copy, "manage.py", "startapp", "billing", "apps/billing")
    assert started.returncode == 0, started.stderr
    apps_py = app / "apps.py"
    apps_py.write_text(apps_py.read_text().replace("name = 'billing'", "name = 'apps.billing'"))
    (app / "views.py").write_text(VIEWS)
    (app / "urls.py").write_text(URLS)
    (app / "health.py").write_text(HEALTH)
    (app / "dashboard.py").write_text(DASHBOARD)
    # Step 2: one entry in config/config.py.
    config = copy / "config" / "config.py"
    text = config.read_text()
    text = text.replace(
        "from cfg.config import DjangoConfig\n",
        "from cfg.config import DjangoConfig\nfrom cfg.models.apps import AppList, AppSpec\n"
        "from cfg.models.unfold import NavigationItem\n",
    )
    marker = "    # The project's own apps and middleware: project_apps and project_middleware (docs/apps.md).\n"
    assert marker in text, "config/config.py no longer looks as docs/apps.md says"
    config.write_text(text.replace(marker, marker + PROJECT_APPS))

    check = run(copy, "manage.py", "check")
    assert check.returncode == 0, check.stderr
    probe = run(copy, "-c", f"import os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings'){PROBE}")
    assert probe.returncode == 0, probe.stderr
    report = json.loads(probe.stdout.strip().splitlines()[-1])

    assert report["ping"] == [200, {"billing": "up"}]
    assert report["checks"]["billing"]["status"] == "ok"
    assert "billing" in report["enabled"] and report["installed"]
    assert "Billing" in report["navigation"]
    # Its card is on the admin's dashboard, which nobody edited.
    assert report["figures"]["invoices_open"] == "42"
    # Step 5: tree and info show it.
    tree = run(copy, "manage.py", "tree")
    assert tree.returncode == 0, tree.stderr
    assert "billing: enabled (project)" in tree.stdout and "/api/billing/" in tree.stdout
    info = run(copy, "manage.py", "info", "--json")
    assert json.loads(info.stdout)["apps"]["billing"] is True
    assert digest(copy / "cfg") == cfg_before
