"""The project's configuration: its identity lives here and only here."""

from pathlib import Path

from cfg.models.core import DjangoConfig

BASE_DIR = Path(__file__).resolve().parent.parent


class ProjectConfig(DjangoConfig):
    project_name: str = "Django Starter"
    project_slug: str = "django_starter"


config = ProjectConfig.load_or_exit(BASE_DIR)
