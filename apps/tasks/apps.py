from django.apps import AppConfig


class TasksConfig(AppConfig):
    name = "apps.tasks"
    label = "tasks"
    # The admin's breadcrumbs ("Tasks > Task runs"), beside the sidebar's "Tasks dashboard" and "Task runs".
    verbose_name = "Tasks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.tasks import signals  # noqa: F401  (connects the run recorder to django.tasks signals)
