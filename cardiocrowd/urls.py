from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from cardiocrowd.imaging.urls import api_urlpatterns as imaging_api
from cardiocrowd.imaging.urls import dicomweb_urlpatterns

urlpatterns = [
    path("", include("cardiocrowd.operations.urls")),  # /healthz, /readyz, /metrics
    path("admin/", admin.site.urls),
    path("api/", include("cardiocrowd.accounts.urls")),
    path("api/", include(imaging_api)),
    path("api/", include("labeling.urls")),
    path("api/", include("exports.urls")),
    path("api/", include("training.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="openapi-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="openapi-schema"), name="api-docs"),
    path("dicomweb/<slug:slug>/", include(dicomweb_urlpatterns)),
    path("", include("frontend.urls")),
]
