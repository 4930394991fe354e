from django.urls import path

from . import views

urlpatterns = [
    path("healthz", views.liveness, name="healthz"),
    path("readyz", views.readiness, name="readyz"),
    path("metrics", views.metrics, name="metrics"),
]

# Included at the site root (cardiocrowd/urls.py); OperationsEndpointsMiddleware serves these paths.
OPERATIONS_PATHS = frozenset(f"/{pattern.pattern}" for pattern in urlpatterns)
