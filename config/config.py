"""The project's configuration: its identity lives here and only here."""

from pathlib import Path

from cfg.config import DjangoConfig

BASE_DIR = Path(__file__).resolve().parent.parent


class ProjectConfig(DjangoConfig):
    project_name: str = "Django Starter"
    project_slug: str = "django_starter"
    # The project's own apps and middleware: project_apps and project_middleware (docs/apps.md).


config = ProjectConfig.load_or_exit(BASE_DIR)
