"""Spatial answers through the database: a task's outlines are fused by STAPLE on the image's own
grid and stored in the answers' format; a whole-stage run learns each worker's sensitivity and
specificity on outlines, bias and noise on calipers, spread on landmarks."""
import numpy as np
import pytest

from cardiocrowd.imaging.models import Instance
from labeling.assignment import claim_next_task, submit_answer
from labeling.design import StageDesign, add_items_to_stage, append_stage, save_schema_version
from labeling.estimation import reestimate_stage
from labeling.flow import aggregate_task
from labeling.models import Consensus, ConsensusRun, Item, Stage, Task, WorkerEstimate
from labeling.observer_agreement import stage_agreement
from labeling.selectors import ItemImages
from labeling.spatial_estimation import learn_calipers
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


def test_caliper_bias_is_recovered_on_a_simulated_crowd():
    """200 LV lengths, each measured by 4 of 8 readers with known offsets (mm) and 0.5 mm noise;
    an expert's length on 20 of them anchors the offsets."""
    rng = np.random.default_rng(7)
    offsets = np.array([-6.0, -4.0, -2.5, 2.0, 3.0, 5.0, 8.0, 10.0])
    truths = rng.uniform(35, 90, 200)
    given = []
    for task, truth in enumerate(truths):
        for worker in rng.choice(8, size=4, replace=False):
            length = truth + offsets[worker] + rng.normal(0, 0.5)
            given.append((task, int(worker), {"frame": 1, "points": [[10, 10], [10 + length / 0.5, 10]],
                                              "length_mm": round(length, 3)}))
    gold = {task: {"frame": 1, "points": [[10, 10], [10 + truths[task] / 0.5, 10]], "length_mm": truths[task]}
            for task in range(20)}

    learned = learn_calipers(Stage(), "lv_length", given, gold, "ds", ConsensusRun(), {})

    bias = {estimate.worker_id: estimate.learned["bias"] for estimate in learned.estimates}
    for worker, offset in enumerate(offsets):
        assert bias[worker] == pytest.approx(offset, rel=0.1)
    assert learned.method == "robust_measurement"
    value = learned.updates[(50, "lv_length")]["value"]
    assert value["length_mm"] == pytest.approx(truths[50], abs=1.0) and len(value["points"]) == 2


TWO_KINDS = {"fields": [{"key": "lv", "kind": "contour"}, {"key": "axis", "kind": "length"},
                        {"key": "hinges", "kind": "points"}]}


def measured_stage(project, ingest) -> tuple[Stage, list[Item]]:
    """Four items on one Sunnybrook image (1.367 mm pixels), each outlined, measured and landmarked by
    three readers: "loose" outlines 6 px too far on every side, "long" draws every axis 8 px long
    and its first landmark 4 px low."""
    ingest(project, SUNNYBROOK_PATIENT / "1.dcm")
    instance = Instance.objects.get()
    schema = save_schema_version(project=project, name="lv", user=None, definition=TWO_KINDS)
    stage = append_stage(project=project, schema=schema, user=None, design=StageDesign(name="LV", redundancy=3))
    items = [Item.objects.create(project=project, study=instance.series.study, series=instance.series,
                                 instance=instance) for _ in range(4)]
    add_items_to_stage(stage=stage, items=items)
    readers = {"tight": 0, "loose": 6, "long": 0}
    users = {name: UserFactory(username=name) for name in readers}
    for number, item in enumerate(items):
        x = 80 + 10 * number
        for name, user in users.items():
            grow = readers[name]
            stretch = 8 if name == "long" else (number % 2)
            submit_answer(assignment=claim_next_task(stage=stage, worker=user), images_of=ItemImages, value={
                "lv": square(x - grow, 80 - grow, 40 + 2 * grow),
                "axis": {"frame": 1, "points": [[x, 80], [x, 120 + stretch]]},
                "hinges": {"frame": 1, "points": [[x, 80 + (name == "long") * 4], [x + 40, 80]]}})
        aggregate_task(task_id=Task.objects.get(stage=stage, item=item).pk)
    return stage, items


def test_a_stage_run_learns_outline_sensitivity_caliper_bias_and_landmark_spread(project, ingest):
    stage, items = measured_stage(project, ingest)

    run = reestimate_stage(stage_id=stage.pk)

    learned = {(e.worker.username, e.field): e.learned for e in WorkerEstimate.objects.filter(stage=stage)}
    assert run.status == "succeeded" and run.method == "staple+rm+gm"  # 32 characters at most
    assert learned[("tight", "lv")]["sensitivity"] > 0.95 and learned[("loose", "lv")]["specificity"] < 1.0
    assert learned[("loose", "lv")]["area_bias"] > 0 > learned[("tight", "lv")]["area_bias"]
    assert learned[("long", "axis")]["bias"] > 5 and learned[("long", "axis")]["unit"] == "length_mm"
    assert learned[("long", "hinges")]["spread_px"] == pytest.approx(2.0, abs=0.1)
    assert learned[("tight", "hinges")]["spread_mm"] < learned[("long", "hinges")]["spread_mm"]
    fields = Consensus.objects.get(task__item=items[0]).fields
    assert set(fields["lv"]["value"]) == {"frame", "instance", "points", "area_mm2"}
    assert set(fields["axis"]["value"]) == {"frame", "instance", "points", "length_mm"}
    assert fields["hinges"]["value"]["points"] == [[80.0, 80.0], [120.0, 80.0]]


def test_the_agreement_report_covers_shapes_calipers_and_landmarks(project, ingest):
    stage, _ = measured_stage(project, ingest)

    report = stage_agreement(stage)

    shape, axis, hinges = (report["fields"][key] for key in ("lv", "axis", "hinges"))
    assert shape["kind"] == "shape" and shape["pairs"] == 12 and shape["hausdorff"]["unit"] == "mm"
    # "loose" is 6 px out on every side: 6 × 1.367 mm (diagonally at the corners: × √2).
    assert shape["hausdorff"]["max"] == pytest.approx(6 * 1.367 * 2 ** 0.5, rel=0.01)
    assert axis["kind"] == "measurement" and axis["unit"] == "mm"
    assert axis["crowd"]["icc"]["form"] == "ICC(1,1)" and axis["crowd"]["icc"]["items"] == 4
    assert len(axis["crowd"]["plot"]) == 4 and axis["crowd"]["bland_altman"]["pairs"] == 4
    assert hinges["kind"] == "landmark" and hinges["distance"]["unit"] == "mm"
    assert hinges["distance"]["max"] == pytest.approx(4 * 1.367 / 2, rel=0.01)  # one of two landmarks 4 px off


def test_the_report_compares_the_crowd_consensus_with_each_expert_for_shapes_landmarks_and_lengths():
    from labeling.observer_agreement import _field_figures
    from labeling.schema import ImageGeometry

    images = {"2.25.1": ImageGeometry(rows=100, columns=100, spacing_mm=(0.5, 0.5))}
    outline = {"frame": 1, "instance": "2.25.1", "points": [[10, 10], [30, 10], [30, 30], [10, 30]]}
    wider = {**outline, "points": [[10, 10], [34, 10], [34, 30], [10, 30]]}
    marks = {"frame": 1, "instance": "2.25.1", "points": [[10, 10], [50, 50]]}
    moved = {**marks, "points": [[13, 14], [50, 50]]}
    crowd = [(1, "w1", {"lv": outline, "hinges": marks, "n": 10.0}),
             (1, "w2", {"lv": outline, "hinges": marks, "n": 12.0}), (2, "w1", {"n": 20.0}), (2, "w2", {"n": 21.0}),
             (3, "w1", {"n": 30.0}), (3, "w2", {"n": 33.0})]
    experts = [(1, "e1", {"lv": wider, "hinges": moved, "n": 10.0}), (2, "e1", {"n": 22.0}), (3, "e1", {"n": 30.0})]
    consensus = {1: {"lv": {"value": outline}, "hinges": {"value": marks}}}

    shape = _field_figures({"key": "lv", "kind": "contour"}, crowd, experts, images, consensus)
    hinges = _field_figures({"key": "hinges", "kind": "points"}, crowd, experts, images, consensus)
    number = _field_figures({"key": "n", "kind": "number", "unit": "mm"}, crowd, experts, images, consensus)

    [row] = shape["crowd_vs_expert"]
    assert (row["second"], row["items"], row["unit"]) == ("e1", 1, "mm")
    assert row["figures"]["dice_mean"] == round(2 * 400 / (400 + 480), 4)
    assert row["figures"]["hausdorff_max"] == 2.0  # 4 columns of 0.5 mm
    assert shape["mean_dice"] == 1.0 and shape["hausdorff"]["max"] == 0.0
    [row] = hinges["crowd_vs_expert"]
    assert row["figures"]["distance_mean"] == pytest.approx((5 * 0.5 + 0) / 2)
    expert = number["expert_agreement"]
    assert expert["items"] == 3 and expert["bland_altman"]["bias"] == pytest.approx((1 + (20.5 - 22) + 1.5) / 3)
    assert expert["icc"]["form"] == "ICC(2,1)" and len(expert["plot"]) == 3
    assert number["crowd"]["icc"]["items"] == 3
