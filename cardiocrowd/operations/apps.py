from django.apps import AppConfig


class OperationsConfig(AppConfig):
    """Health checks, Prometheus metrics and structured logs: what a production deployment watches."""

    name = "cardiocrowd.operations"
    label = "operations"

    def ready(self) -> None:
        from . import worker  # noqa: F401 - connects the Celery signal receivers
