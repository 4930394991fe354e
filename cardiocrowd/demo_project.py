"""The demo project: real DICOM that ships with the dependencies and the repository, and one
user of each role. Idempotent: running it again changes nothing but the passwords it resets."""
from pathlib import Path

from django.db import transaction
from pydicom.data import get_testdata_file

from cardiocrowd.accounts.models import Membership, Project
from cardiocrowd.accounts.services import create_project, ensure_user, set_membership
from cardiocrowd.imaging import services as imaging
from cardiocrowd.imaging.models import ImportJob, Series
from labeling.models import Assignment, Item

DEMO_SLUG = "demo"
SUNNYBROOK = Path(__file__).resolve().parent / "demo_data" / "sunnybrook" / "SCD0000101"
# pydicom-data's real 120-frame parasternal long-axis echo, and pydicom's own CT, MR and enhanced MR.
PACKAGED_FILES = ["color3d_jpeg_baseline.dcm", "CT_small.dcm", "MR_small_jp2klossless.dcm", "emri_small_RLE.dcm"]
# The SonoSite banner (top left) shows the patient name: black it out on every frame.
ECHO_BANNER = {"modality": "US", "x": 0, "y": 0, "width": 130, "height": 62}
LOGINS = [  # username, password, role
    ("admin", "admin-demo", Membership.Role.ADMIN),
    ("cardiologist", "expert-demo", Membership.Role.EXPERT),
    ("crowd1", "crowd-demo", Membership.Role.CROWD),
    ("crowd2", "crowd-demo", Membership.Role.CROWD),
]


def demo_files() -> list[str]:
    return [get_testdata_file(name) for name in PACKAGED_FILES] + [str(SUNNYBROOK)]


def load_demo_project() -> list[tuple[str, str, str]]:
    """Create (or refresh) the demo project; returns the logins (username, password, role)."""
    with transaction.atomic():
        project = Project.objects.filter(slug=DEMO_SLUG).first() or create_project(
            slug=DEMO_SLUG, name="Demo: echo cine and cardiac MR", burned_in_policy=Project.BurnedInPolicy.MASK,
            pixel_mask_rules=[ECHO_BANNER], retain_patient_characteristics=True)
        users = {}
        for username, password, role in LOGINS:
            users[username] = ensure_user(username=username, password=password)
            set_membership(project=project, user=users[username], role=role)
        users["admin"].is_staff = users["admin"].is_superuser = True
        users["admin"].save(update_fields=["is_staff", "is_superuser"])
    job = imaging.create_import_job(project=project, kind=ImportJob.Kind.FOLDER, parameters={"paths": demo_files()},
                                    user=users["admin"], enqueue=False)
    imaging.run_import_job(job_id=job.pk)
    with transaction.atomic():
        for series in Series.objects.filter(study__project=project):
            item, _ = Item.objects.get_or_create(project=project, study=series.study, series=series, instance=None)
            # crowd1 holds every item so the demo shows what a crowd worker sees; crowd2 holds none.
            Assignment.objects.get_or_create(item=item, worker=users["crowd1"], state=Assignment.State.OPEN)
    return [(username, password, role) for username, password, role in LOGINS]
