"""The demo project: real DICOM that ships with the dependencies and the repository, and one
user of each role. Idempotent: running it again changes nothing but the passwords it resets."""
from pathlib import Path

from django.db import transaction
from pydicom.data import get_testdata_file

from cardiocrowd.accounts.models import Membership, Project
from cardiocrowd.accounts.services import create_project, ensure_user, set_membership
from cardiocrowd.imaging import services as imaging
from cardiocrowd.imaging.models import ImportJob
from labeling import design
from labeling.assignment import claim_next_task, submit_answer
from labeling.flow import aggregate_task
from labeling.models import Task
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
    if not project.stages.exists():
        seed_pipeline(project, users)
    return [(username, password, role) for username, password, role in LOGINS]


DEMO_INSTRUCTIONS = """# Which view is this?

Play the cine, then pick the standard view it shows. Press the option's number key to answer.
Skip an image too poor to tell, saying why. Items the crowd disagrees on go to a cardiologist."""


def seed_pipeline(project: Project, users: dict) -> None:
    """A two-stage pipeline over every demo series — crowd view classification (two answers an
    item), then cardiologist review of what the crowd disagreed on — with one disagreement
    already on its way to review and a lease held by crowd1, so each role has something to see."""
    admin = users["admin"]
    design.save_settings(project=project, changes={"instructions": DEMO_INSTRUCTIONS}, user=admin)
    views = design.save_schema_version(project=project, name="views", user=admin,
                                       definition=TEMPLATES["echo-view-classification"]["schema"])
    crowd = design.append_stage(project=project, schema=views, user=admin, design=design.StageDesign(
        name="Which view?", redundancy=2, lease_seconds=DEMO_LEASE_SECONDS))
    design.append_stage(project=project, schema=None, user=admin, design=design.StageDesign(
        name="Cardiologist review", kind="review", audience="expert", redundancy=1, lease_seconds=3600))
    design.set_routing(stage=crowd, routing=[{"if": {"confidence_below": 1.0}, "then": {"send_to": 2}}], user=admin)
    design.queue_series(stage=crowd, series_uids=None)
    for worker, view in (("crowd1", "PLAX"), ("crowd2", "PSAX")):
        submit_answer(assignment=claim_next_task(stage=crowd, worker=users[worker]),
                      value={"view": view, "quality": "good"})
    aggregate_task(task_id=Task.objects.filter(stage=crowd).order_by("pk").values_list("pk", flat=True)[0])
    claim_next_task(stage=crowd, worker=users["crowd1"])
