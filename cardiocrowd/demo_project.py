"""The demo project: real DICOM that ships with the dependencies and the repository, and one
user of each role. Idempotent: running it again changes nothing but the passwords it resets."""
import contextlib
from pathlib import Path

from django.db import transaction
from pydicom.data import get_testdata_file

from cardiocrowd.accounts.models import Membership, Project
from cardiocrowd.accounts.services import create_project, ensure_user, set_membership
from cardiocrowd.imaging import services as imaging
from cardiocrowd.imaging.models import ImportJob, Series
from labeling.assignment import NoTaskAvailable, claim_next_task
from labeling.design import add_items_to_stage, save_schema_version
from labeling.models import Item, LabelSchema, Stage
from labeling.templates import TEMPLATES

DEMO_SLUG = "demo"
SUNNYBROOK = Path(__file__).resolve().parent / "demo_data" / "sunnybrook" / "SCD0000101"
# pydicom-data's real 120-frame parasternal long-axis echo, and pydicom's own CT, MR and enhanced MR.
PACKAGED_FILES = ["color3d_jpeg_baseline.dcm", "CT_small.dcm", "MR_small_jp2klossless.dcm", "emri_small_RLE.dcm"]
# The SonoSite banner (top left) shows the patient name: black it out on every frame.
ECHO_BANNER = {"modality": "US", "x": 0, "y": 0, "width": 130, "height": 62}
DEMO_LEASE_SECONDS = 30 * 24 * 3600  # the demo's crowd worker keeps its items for a month
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
        schema = LabelSchema.objects.filter(project=project, name="views").first() or save_schema_version(
            project=project, name="views", user=users["admin"],
            definition=TEMPLATES["echo-view-classification"]["schema"])
        # One stage per series, so crowd1 can hold every item at once and the demo shows what a crowd
        # worker sees; crowd2 holds none. (Pipelines proper come with the labeling engine's stages API.)
        for position, series in enumerate(Series.objects.filter(study__project=project).order_by("pk"), start=1):
            stage = Stage.objects.filter(project=project, position=position).first() or Stage.objects.create(
                project=project, name=f"Which view? ({series.modality})", position=position, schema=schema,
                lease_seconds=DEMO_LEASE_SECONDS, redundancy=3, max_redundancy=3)
            item, _ = Item.objects.get_or_create(project=project, study=series.study, series=series, instance=None)
            add_items_to_stage(stage=stage, items=[item])
            with contextlib.suppress(NoTaskAvailable):  # crowd1 answered it already
                claim_next_task(stage=stage, worker=users["crowd1"])
    return [(username, password, role) for username, password, role in LOGINS]
