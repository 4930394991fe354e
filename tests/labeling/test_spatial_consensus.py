"""Spatial answers through the database: a task's outlines are fused by STAPLE on the image's own
grid and stored in the answers' format; a whole-stage run learns each worker's sensitivity and
specificity on outlines, bias and noise on calipers, spread on landmarks."""
import pytest

from cardiocrowd.imaging.models import Instance
from labeling.assignment import claim_next_task, submit_answer
from labeling.design import StageDesign, add_items_to_stage, append_stage, save_schema_version
from labeling.flow import aggregate_task
from labeling.models import Consensus, Item, Task
from labeling.selectors import ItemImages
from tests.conftest import SUNNYBROOK_PATIENT
from tests.factories import UserFactory

SCHEMA = {"fields": [{"key": "lv", "kind": "contour"}]}


def square(x: float, y: float, size: float) -> dict:
    return {"frame": 1, "points": [[x, y], [x + size, y], [x + size, y + size], [x, y + size]]}


@pytest.fixture
def mr_item(project, ingest):
    """One calibrated Sunnybrook MR image (1.37 mm pixels) as an item of a contour stage."""
    ingest(project, SUNNYBROOK_PATIENT / "1.dcm")
    instance = Instance.objects.get()
    schema = save_schema_version(project=project, name="lv", user=None, definition=SCHEMA)
    stage = append_stage(project=project, schema=schema, user=None, design=StageDesign(name="LV", redundancy=3))
    item = Item.objects.create(project=project, study=instance.series.study, series=instance.series,
                               instance=instance)
    add_items_to_stage(stage=stage, items=[item])
    return stage, item


def test_a_tasks_three_contours_are_fused_by_staple_not_one_workers(mr_item):
    stage, item = mr_item
    drawn = [square(100, 100, 40), square(104, 102, 40), square(98, 97, 44)]
    for number, value in enumerate(drawn):
        worker = UserFactory(username=f"reader{number}")
        submit_answer(assignment=claim_next_task(stage=stage, worker=worker), value={"lv": value},
                      images_of=ItemImages)

    aggregate_task(task_id=Task.objects.get(stage=stage, item=item).pk)

    entry = Consensus.objects.get(task__item=item).fields["lv"]
    stored = [answer.value["lv"]["points"] for answer in Task.objects.get(stage=stage).answers.all()]
    assert entry["value"]["points"] not in stored
    assert entry["method"] == "staple" and len(entry["sensitivity"]) == 3
    assert entry["value"]["frame"] == 1 and entry["value"]["instance"] == item.instance.sop_instance_uid
    # The pixels two of three marked: columns 100..141, rows 100..140, 42 × 41 pixels of 1.367² mm².
    xs = [x for x, _ in entry["value"]["points"]]
    ys = [y for _, y in entry["value"]["points"]]
    assert (min(xs), max(xs), min(ys), max(ys)) == (100, 142, 100, 141)
    assert entry["value"]["area_mm2"] == pytest.approx(42 * 41 * 1.367 ** 2, rel=0.01)
