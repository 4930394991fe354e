from django.apps import AppConfig


class ImagingConfig(AppConfig):
    name = "cardiocrowd.imaging"
    label = "imaging"
    default_auto_field = "django.db.models.BigAutoField"
