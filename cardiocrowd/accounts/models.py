"""Projects and who may do what in them.

A project is the unit of membership and of de-identification: pseudonyms (UIDs, patient IDs,
date shifts) are derived from the project's own secret, so the same source study imported
into two projects cannot be linked through its pseudonyms.
"""
import secrets

from django.conf import settings
from django.db import models


def new_pseudonym_secret() -> str:
    return secrets.token_hex(32)


class Project(models.Model):
    class DatePolicy(models.TextChoices):
        SHIFT = "shift", "Shift dates per patient (intervals kept)"
        REMOVE = "remove", "Remove dates and times"

    class BurnedInPolicy(models.TextChoices):
        QUARANTINE = "quarantine", "Quarantine for admin review"
        MASK = "mask", "Mask the pixel regions of the project's rules"

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    # Keyed-hash secret behind every pseudonym of this project; never leaves the server.
    pseudonym_secret = models.CharField(max_length=64, default=new_pseudonym_secret, editable=False)
    date_policy = models.CharField(max_length=16, choices=DatePolicy.choices, default=DatePolicy.SHIFT)
    retain_patient_characteristics = models.BooleanField(
        default=False, help_text="PS3.15 Retain Patient Characteristics Option (sex, age, size, weight)."
    )
    burned_in_policy = models.CharField(
        max_length=16, choices=BurnedInPolicy.choices, default=BurnedInPolicy.QUARANTINE
    )
    # [{"modality": "US", "x": 0, "y": 0, "width": null, "height": 60}]: null width = full row.
    pixel_mask_rules = models.JSONField(default=list, blank=True)

    def __str__(self) -> str:
        return self.slug


class Membership(models.Model):
    class Role(models.TextChoices):
        CROWD = "crowd", "Crowd worker"
        EXPERT = "expert", "Expert"
        ADMIN = "admin", "Admin"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    senior = models.BooleanField(default=False, help_text="A senior expert may adjudicate between experts.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="one_membership_per_user")]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} as {self.role}"
