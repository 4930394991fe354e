"""A project whose items went through the real labeling engine, ready to export.

Three items, one image each, ingested from real DICOM: the Sunnybrook MR slices 48 and 59 (with
the challenge's expert endocardium contour of slice 48 as the crowd's drawing) and the 120-frame
echo cine (burned-in text masked). Two crowd workers answer every item with an LV contour, a
length, an LVEF and the image quality; the echo also gets a brush mask of the myocardium.
The crowd agrees MR 48 is of good quality: accepted at the crowd stage. MR 59 and the echo are
called poor: the crowd stage routes them to a cardiologist, who rejects MR 59 and corrects the
echo's LVEF and quality (accepted with the correction)."""
from dataclasses import dataclass

import numpy as np
import pytest

from cardiocrowd.accounts.models import Membership, Project
from cardiocrowd.imaging.models import Instance
from labeling.assignment import claim_next_task, submit_for_worker
from labeling.consensus.masks import encode_rle
from labeling.design import StageDesign, add_items_to_stage, append_stage, save_schema_version, set_routing
from labeling.models import Item, Stage
from labeling.selectors import ItemImages
from tests.conftest import DICOM_DATA, ECHO_CINE, SUNNYBROOK_PATIENT
from tests.factories import MembershipFactory, UserFactory

SUNNYBROOK_CONTOURS = DICOM_DATA / "sunnybrook" / "contourfiles" / "SC-HF-I-1" / "i-contours"
SCHEMA = {"fields": [
    {"key": "lv", "kind": "contour", "label": "LV endocardium", "required": True},
    {"key": "myocardium", "kind": "brush_mask", "label": "Myocardium"},
    {"key": "lv_diameter", "kind": "length", "label": "LV diameter", "required": True},
    {"key": "lvef", "kind": "number", "label": "LVEF", "unit": "%", "min": 5, "max": 90, "required": True,
     "code": {"value": "10230-1", "scheme": "LN", "meaning": "Left ventricular Ejection fraction"}},
    {"key": "quality", "kind": "single_choice", "label": "Image quality", "required": True, "options": [
        {"value": "good", "label": "Good"}, {"value": "fair", "label": "Fair"}, {"value": "poor", "label": "Poor"}]},
    {"key": "comment", "kind": "text", "label": "Comment"},
]}
ECHO_CONTOUR = [[260.0, 150.0], [330.0, 140.0], [370.0, 210.0], [340.0, 290.0], [270.0, 300.0], [240.0, 220.0]]
ECHO_CONTOUR_FRAME, ECHO_MASK_FRAME = 12, 30


def sunnybrook_contour(number: int) -> list[list[float]]:
    path = SUNNYBROOK_CONTOURS / f"IM-0001-{number:04d}-icontour-manual.txt"
    return [[float(x), float(y)] for x, y in (line.split() for line in path.read_text().splitlines() if line.strip())]


def echo_myocardium() -> np.ndarray:
    mask = np.zeros((480, 640), bool)
    mask[200:260, 300:380] = True
    mask[215:245, 320:360] = False  # a ring: the cavity is not myocardium
    return mask


@dataclass
class Labeled:
    project: Project
    crowd: Stage
    review: Stage
    items: dict[str, Item]  # "mr48", "mr59", "echo"
    instances: dict[str, Instance]
    answers: dict[str, dict[str, dict]]  # item name → worker → the answer given
    expert_correction: dict


def _answer(name: str, worker: str, instance: Instance, quality: str) -> dict:
    shift = 0.0 if worker == "w1" else 0.4
    if name.startswith("mr"):
        contour = sunnybrook_contour(48) if name == "mr48" else [[100, 100], [140, 100], [140, 140], [100, 140]]
        return {"lv": {"frame": 1, "points": [[x + shift, y] for x, y in contour]},
                "lv_diameter": {"frame": 1, "points": [[100.0, 120.0], [150.0 + shift, 125.0]]},
                "lvef": 55.0 if worker == "w1" else 57.0, "quality": quality, "comment": f"{worker} on {name}"}
    return {"lv": {"frame": ECHO_CONTOUR_FRAME, "points": [[x + shift, y] for x, y in ECHO_CONTOUR]},
            "myocardium": {"frame": ECHO_MASK_FRAME, "rows": 480, "columns": 640, "rle": encode_rle(echo_myocardium())},
            "lv_diameter": {"frame": ECHO_CONTOUR_FRAME, "points": [[250.0, 220.0], [360.0 + shift, 215.0]]},
            "lvef": 40.0 if worker == "w1" else 42.0, "quality": quality}


@pytest.fixture
def labeled(project, admin_user, ingest, django_capture_on_commit_callbacks) -> Labeled:
    project.burned_in_policy = Project.BurnedInPolicy.MASK
    project.pixel_mask_rules = [{"modality": "US", "height": 62, "width": 130}]
    project.save()
    ingest(project, SUNNYBROOK_PATIENT / "48.dcm", SUNNYBROOK_PATIENT / "59.dcm", ECHO_CINE)
    instances = {"mr48": Instance.objects.get(project=project, instance_number=48),
                 "mr59": Instance.objects.get(project=project, instance_number=59),
                 "echo": Instance.objects.get(project=project, series__modality="US")}
    workers = {name: MembershipFactory(project=project, role=Membership.Role.CROWD,
                                       user=UserFactory(username=name)).user for name in ("w1", "w2")}
    expert = MembershipFactory(project=project, role=Membership.Role.EXPERT, user=UserFactory(username="e1")).user
    schema = save_schema_version(project=project, name="lv-measures", definition=SCHEMA, user=admin_user)
    crowd = append_stage(project=project, schema=schema, user=admin_user,
                         design=StageDesign(name="Crowd: LV", redundancy=2))
    review = append_stage(project=project, schema=None, user=admin_user, design=StageDesign(
        name="Cardiologist review", kind=Stage.Kind.REVIEW, audience=Stage.Audience.EXPERT, redundancy=1))
    set_routing(stage=crowd, routing=[{"if": {"field": "quality", "in": ["poor"]}, "then": {"send_to": 2}}],
                user=admin_user)
    items = {name: Item.objects.create(project=project, study=instance.series.study, series=instance.series,
                                       instance=instance) for name, instance in instances.items()}
    add_items_to_stage(stage=crowd, items=list(items.values()))
    quality = {"mr48": "good", "mr59": "poor", "echo": "poor"}
    answers: dict[str, dict[str, dict]] = {name: {} for name in items}
    for worker_name, worker in workers.items():
        for _ in items:
            with django_capture_on_commit_callbacks(execute=True):
                assignment = claim_next_task(stage=crowd, worker=worker)
                name = next(name for name, item in items.items() if item.pk == assignment.item_id)
                answers[name][worker_name] = _answer(name, worker_name, instances[name], quality[name])
                submit_for_worker(assignment_id=assignment.pk, worker_id=worker.pk,
                                  value=answers[name][worker_name], images_of=ItemImages)
    correction = {**_answer("echo", "w1", instances["echo"], "fair"), "lvef": 45.0}
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            assignment = claim_next_task(stage=review, worker=expert)
            if assignment.item_id == items["echo"].pk:
                submit_for_worker(assignment_id=assignment.pk, worker_id=expert.pk, value=correction,
                                  verdict="correct", note="LVEF nearer 45 %.", images_of=ItemImages)
            else:
                submit_for_worker(assignment_id=assignment.pk, worker_id=expert.pk, value={}, verdict="reject",
                                  note="Basal slice: no LV cavity to trace.", images_of=ItemImages)
    for item in items.values():
        item.refresh_from_db()
    return Labeled(project=project, crowd=crowd, review=review, items=items, instances=instances, answers=answers,
                   expert_correction=correction)


def exports_url(project: Project, version: int | None = None, name: str | None = None) -> str:
    url = f"/api/projects/{project.slug}/exports/"
    if version is not None:
        url += f"{version}/"
    return url + f"files/{name}" if name else url


@pytest.fixture
def export_as(api_client, django_capture_on_commit_callbacks):
    """POST an export as `user`; its build runs (eagerly) once the request's transaction would
    have committed, as after a real commit."""
    def run(user, project: Project):
        api_client.force_authenticate(user)
        with django_capture_on_commit_callbacks(execute=True):
            return api_client.post(exports_url(project))
    return run
