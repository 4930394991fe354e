"""Whole-stage learners for the spatial field kinds, called by labeling/estimation.py beside its
categorical and number learners (same signature, same result shape):

- contour, freehand: each task's outlines fused by STAPLE on its image's grid (voting.fuse_outlines);
  each worker's sensitivity and specificity pooled over the tasks they outlined, weighted by the
  fused foreground (sensitivity) and background (specificity) pixels; their bias and noise on the
  outlined area by the measurement model.
- length, angle: the measurement model (per-worker bias and noise, measurements.measurement_consensus)
  on the caliper's size in mm (or px) or degrees; the value keeps the caliper's format: the geometric
  median of the endpoints on the most-answered frame, its size the model's bias-corrected estimate.
- points: each landmark's geometric median (measurements.point_consensus); each worker's spread,
  the median over tasks of their mean distance to it, in pixels and in mm when calibrated.

Which learner a field gets: `spatial_learners(stage)`. Why these models: consensus/SPATIAL.md.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from cardiocrowd.imaging.geometry import geometry_from_metadata
from cardiocrowd.imaging.models import Instance

from .agreement import agrees
from .consensus.measurements import measurement_consensus, point_consensus
from .consensus.voting import OUTLINE_KINDS, fuse_outlines
from .models import ConsensusRun, Stage, WorkerEstimate
from .schema import ImageGeometry, polygon_area

CALIPER_KINDS = {"length", "angle"}
LANDMARK_KINDS = {"points"}
SPATIAL_LEARNED_KINDS = OUTLINE_KINDS | CALIPER_KINDS | LANDMARK_KINDS
# ConsensusRun.method and Consensus.method hold 32 characters: a run over many kinds abbreviates.
SHORT_NAMES = {"dawid_skene": "ds", "robust_measurement": "rm", "staple": "staple", "geometric_median": "gm",
               "one_coin": "oc", "majority_vote": "mv"}


@dataclass
class SpatialLearned:
    """What a learner gives estimation.py (the shape of its _Learned) and the method it used."""

    estimates: list[WorkerEstimate]
    updates: dict  # (task id, field) → what the field's consensus becomes
    method: str
    prior: dict | None = None
    calibration: None = None
    details: dict = field(default_factory=dict)


Learner = Callable[..., SpatialLearned]


def spatial_learners(stage: Stage) -> dict[str, Learner]:
    """The learner of each of the stage's spatial fields that a whole-stage run revises."""
    if stage.kind != Stage.Kind.LABEL or stage.schema is None:
        return {}
    kinds = {spec["key"]: spec["kind"] for spec in stage.schema.definition["fields"]}
    chosen = {}
    for key, kind in kinds.items():
        if kind in OUTLINE_KINDS:
            chosen[key] = learn_outlines
        elif kind in CALIPER_KINDS:
            chosen[key] = learn_calipers
        elif kind in LANDMARK_KINDS:
            chosen[key] = learn_landmarks
    return chosen


def run_method(methods: Iterable[str], fallback: str) -> str:
    """The run's method, e.g. dawid_skene+staple, abbreviated where the names pass 32 characters."""
    names = list(dict.fromkeys(methods))
    joined = "+".join(names) or fallback
    return joined if len(joined) <= 32 else "+".join(SHORT_NAMES.get(name, name[:6]) for name in names)[:32]


def stage_images(stage: Stage, values: Iterable[dict]) -> dict[str, ImageGeometry]:
    """Grid and calibration of every image of the stage's project the answers name (one query)."""
    named = {value.get("instance") for value in values if isinstance(value, dict)} - {None}
    rows = Instance.objects.filter(project_id=stage.project_id, sop_instance_uid__in=named)
    return {uid: geometry_from_metadata(metadata) for uid, metadata in rows.values_list("sop_instance_uid", "metadata")}


def _by_task(given: list) -> dict[int, list[tuple[int, dict]]]:
    tasks: dict[int, list[tuple[int, dict]]] = defaultdict(list)
    for task, worker, value in given:
        tasks[int(task)].append((int(worker), value))
    return tasks


def _field_spec(stage: Stage, key: str) -> dict:
    return next(spec for spec in stage.schema.definition["fields"] if spec["key"] == key)


# --- outlines --------------------------------------------------------------------------------


def learn_outlines(stage: Stage, field: str, given: list, known: dict, method: str, run: ConsensusRun,
                   checked: dict) -> SpatialLearned:
    """Contours and freehand outlines: STAPLE per task on the image grid; sensitivity and
    specificity per worker pooled over tasks; bias and noise of the worker's outlined area."""
    spec = _field_spec(stage, field)
    images = stage_images(stage, (value for _, _, value in given))
    true_positive, foreground = defaultdict(float), defaultdict(float)
    true_negative, background = defaultdict(float), defaultdict(float)
    updates = {}
    for task, answers in _by_task(given).items():
        values = [value for _, value in answers]
        if len(values) < 2:
            continue
        fused, details = fuse_outlines(values, images)
        share = sum(agrees(spec, value, fused) for value in values) / len(values)
        updates[(task, field)] = {"value": fused, "share": round(share, 4), "votes": len(values), **details}
        image = images.get(fused.get("instance"))
        grid = image.rows * image.columns if image is not None else None
        fused_pixels = _pixels(fused)
        for (worker, _), sensitivity, specificity in zip(answers, details["sensitivity"], details["specificity"],
                                                         strict=True):
            if sensitivity is None:
                continue
            # Pooling weights: the expected true foreground and background pixels the rates were measured on.
            true_positive[worker] += sensitivity * fused_pixels
            foreground[worker] += fused_pixels
            if grid is not None:
                true_negative[worker] += specificity * (grid - fused_pixels)
                background[worker] += grid - fused_pixels
    areas = _area_model(given)
    counts = Counter(int(worker) for _, worker, _ in given)
    estimates = []
    for worker, answered in counts.items():
        learned: dict = {
            "sensitivity": round(true_positive[worker] / foreground[worker], 6) if foreground[worker] else None,
            "specificity": round(true_negative[worker] / background[worker], 6) if background[worker] else None,
            **areas.get(worker, {})}
        estimates.append(WorkerEstimate(stage=stage, worker_id=worker, field=field, method="staple", run=run,
                                        reliability=learned["sensitivity"], answers=answered, learned=learned))
    return SpatialLearned(estimates, updates, "staple")


def _pixels(value: dict) -> float:
    return polygon_area([list(map(float, point)) for point in value["points"]])


def _area_model(given: list) -> dict[int, dict]:
    """Each worker's bias and noise on the outlined area (mm² when the answers are calibrated)."""
    unit = "area_mm2" if any("area_mm2" in value for _, _, value in given) else "area_px"
    rows = [(task, worker, value[unit]) for task, worker, value in given if unit in value]
    result = _measurements(rows, {})
    if result is None:
        return {}
    workers, model = result[1], result[2]
    return {int(worker): {"area_bias": round(float(model.worker_bias[index]), 4),
                          "area_noise": round(float(model.worker_noise[index]), 4), "area_unit": unit}
            for index, worker in enumerate(workers)}


def _measurements(rows: list, known: dict):
    """measurement_consensus over (task, worker, number) rows: (tasks, workers, result); None for none."""
    if not rows:
        return None
    tasks, task_index = np.unique([task for task, _, _ in rows], return_inverse=True)
    workers, worker_index = np.unique([worker for _, worker, _ in rows], return_inverse=True)
    position = {int(task): index for index, task in enumerate(tasks)}
    result = measurement_consensus(task_index, worker_index, np.array([value for _, _, value in rows], dtype=float),
                                   gold={position[task]: value for task, value in known.items() if task in position})
    return tasks, workers, result


# --- calipers --------------------------------------------------------------------------------


def caliper_size(value: dict) -> tuple[str, float] | None:
    """A length or angle answer's size and its unit key (length_mm, length_px or degrees)."""
    for unit in ("length_mm", "length_px", "degrees"):
        if unit in value:
            return unit, float(value[unit])
    return None


def learn_calipers(stage: Stage, field: str, given: list, known: dict, method: str, run: ConsensusRun,
                   checked: dict) -> SpatialLearned:
    """Lengths and angles: the measurement model on their size, learned over the stage with gold
    sizes anchoring the biases; each task's value a caliper of the answers' format."""
    sized = [(task, worker, caliper_size(value)) for task, worker, value in given]
    sized = [(task, worker, size) for task, worker, size in sized if size is not None]
    if not sized:
        return SpatialLearned([], {}, "robust_measurement")
    unit = Counter(size[0] for _, _, size in sized).most_common(1)[0][0]
    rows = [(task, worker, size[1]) for task, worker, size in sized if size[0] == unit]
    gold = {task: size[1] for task, value in known.items() if (size := caliper_size(value)) and size[0] == unit}
    tasks, workers, model = _measurements(rows, gold)
    estimates = [WorkerEstimate(stage=stage, worker_id=int(worker), field=field, method="robust_measurement",
                                run=run, reliability=None, answers=int(model.worker_answers[index]),
                                learned={"bias": round(float(model.worker_bias[index]), 4),
                                         "noise": round(float(model.worker_noise[index]), 4), "unit": unit})
                 for index, worker in enumerate(workers)]
    by_task = _by_task(given)
    updates = {}
    for index, task in enumerate(tasks.tolist()):
        value = _median_caliper([answer for _, answer in by_task[int(task)]])
        value[unit] = round(float(model.estimate[index]), 3)
        updates[(int(task), field)] = {"value": value, "interval": [round(float(model.lower[index]), 4),
                                                                    round(float(model.upper[index]), 4)]}
    return SpatialLearned(estimates, updates, "robust_measurement")


def _median_caliper(values: list[dict]) -> dict:
    """The geometric median of the calipers' points on their most-answered image and frame, each
    answer's ends put in the order of the first's (a length drawn the other way round is the same)."""
    where = Counter((value.get("instance"), value.get("frame", 1)) for value in values).most_common(1)[0][0]
    on_frame = [value for value in values if (value.get("instance"), value.get("frame", 1)) == where]
    first = np.asarray(on_frame[0]["points"], float)
    aligned = []
    for value in on_frame:
        points = np.asarray(value["points"], float)
        swapped = points[::-1]
        aligned.append(swapped if np.linalg.norm(swapped - first) < np.linalg.norm(points - first) else points)
    location = point_consensus(np.stack(aligned)).location
    result = {key: on_frame[0][key] for key in ("frame", "instance") if key in on_frame[0]}
    result["points"] = np.round(location, 3).tolist()
    return result


# --- landmarks -------------------------------------------------------------------------------


def learn_landmarks(stage: Stage, field: str, given: list, known: dict, method: str, run: ConsensusRun,
                    checked: dict) -> SpatialLearned:
    """Landmarks: each task's geometric median per landmark on its most-answered image and frame
    (answers with that frame's usual point count); each worker's spread, the median over tasks of
    their mean distance to it."""
    images = stage_images(stage, (value for _, _, value in given))
    distances_px, distances_mm = defaultdict(list), defaultdict(list)
    updates = {}
    for task, answers in _by_task(given).items():
        where = Counter((value.get("instance"), value.get("frame", 1)) for _, value in answers).most_common(1)[0][0]
        here = [(worker, value) for worker, value in answers if (value.get("instance"), value.get("frame", 1)) == where]
        count = Counter(len(value["points"]) for _, value in here).most_common(1)[0][0]
        here = [(worker, value) for worker, value in here if len(value["points"]) == count]
        stack = np.asarray([value["points"] for _, value in here], float)  # (workers, landmarks, 2)
        consensus = point_consensus(stack)
        value = {key: here[0][1][key] for key in ("frame", "instance") if key in here[0][1]}
        value["points"] = np.round(consensus.location, 3).tolist()
        image = images.get(where[0])
        spacing = image.spacing_mm if image is not None else None
        offsets = stack - consensus.location
        for (worker, _), offset in zip(here, offsets, strict=True):
            distances_px[worker].append(float(np.linalg.norm(offset, axis=-1).mean()))
            if spacing is not None:
                row_mm, column_mm = spacing
                distances_mm[worker].append(float(np.hypot(offset[:, 0] * column_mm, offset[:, 1] * row_mm).mean()))
        # The share agreeing: mean distance within the field's tolerance, as agreement.agrees counts it.
        within = consensus.distances.mean(axis=1) <= _field_spec(stage, field).get("tolerance_px", 10)
        updates[(task, field)] = {"value": value, "share": round(float(within.mean()), 4), "votes": len(here),
                                  "spread_px": round(float(np.median(consensus.spread)), 4)}
    counts = Counter(int(worker) for _, worker, _ in given)
    estimates = [WorkerEstimate(stage=stage, worker_id=worker, field=field, method="geometric_median", run=run,
                                reliability=None, answers=answered, learned={
                                    "spread_px": _median(distances_px[worker]),
                                    "spread_mm": _median(distances_mm[worker])})
                 for worker, answered in counts.items()]
    return SpatialLearned(estimates, updates, "geometric_median")


def _median(values: list[float]) -> float | None:
    return round(float(np.median(values)), 4) if values else None
