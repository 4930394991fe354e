"""Inter-observer agreement of a label stage, per field: the reproducibility figures a study
reports, computed by labeling/consensus/reproducibility.py from the stage's answers.

The crowd's answers are those of each task's current round (gold and qualification items
included); the experts' are the labels they
stood behind in the review and adjudication stages that reviewed this stage's items (an accept
counts as the consensus it accepted, a correction as the correction; rejections carry no label).

Per kind: categories Fleiss' kappa and Krippendorff's alpha; numbers and calipers (length, angle)
Krippendorff's alpha, the crowd's ICC(1,1) with its 95 % interval and Bland-Altman (first vs second
reading), crowd vs expert ICC(2,1) and Bland-Altman, with plot points; shapes Dice and Hausdorff
distance (mm when the image is calibrated) on the image grid; landmarks the distance in mm. Crowd
vs expert compares the crowd's median (numbers) or stored consensus (shapes, landmarks) with each
expert's label.
"""
from __future__ import annotations

from collections import defaultdict
from itertools import combinations

import numpy as np

from .assignment import reviewed_label_task
from .consensus import agreement_stats, reproducibility
from .consensus.masks import answer_mask, outline_grid
from .consensus.voting import CATEGORICAL_KINDS
from .models import Answer, Consensus, Stage
from .schema import ImageGeometry
from .spatial_estimation import caliper_size, stage_images

SPATIAL_SHAPES = {"bounding_box", "contour", "freehand", "brush_mask"}
CALIPERS = {"length", "angle"}


def stage_agreement(stage: Stage) -> dict:
    """{"stage", "items", "fields": {key: figures}} for a label stage (ValueError for another kind)."""
    if stage.kind != Stage.Kind.LABEL:
        raise ValueError("agreement is reported for label stages (reviews are compared with them)")
    # Gold and qualification items are observations of the same images too: they count.
    rows = list(Answer.objects.filter(task__stage=stage, skip_reason="")
                .values_list("task__item_id", "worker__username", "value", "round", "task__round", "prelabel"))
    current = [row for row in rows if row[3] == row[4]]
    crowd = [(item, worker, value) for item, worker, value, *_ in current]
    shown = [(item, value, prelabel) for item, _, value, _, _, prelabel in current]
    experts = _expert_labels(stage)
    report = {"stage": {"id": stage.pk, "name": stage.name}, "items": len({item for item, _, _ in crowd}),
              "fields": {}}
    consensus = {item: fields for item, fields in Consensus.objects.filter(task__stage=stage)
                 .values_list("task__item_id", "fields")}
    images = stage_images(stage, (value for _, _, answer in [*crowd, *experts] for value in answer.values()
                                  if isinstance(value, dict)))
    for field in stage.schema.definition["fields"]:
        figures = _field_figures(field, crowd, experts, images, consensus)
        if figures is not None:
            anchoring = _anchoring(field["key"], shown, consensus)
            report["fields"][field["key"]] = {**figures, **({"prelabel": anchoring} if anchoring else {})}
    return report


def _anchoring(key: str, shown: list[tuple[int, dict, dict | None]], consensus: dict[int, dict]) -> dict | None:
    """How answers that started from the model's pre-label differ from those that did not: how
    many kept it as it was, and how often each group agrees with the consensus. None when no answer
    of the field started from a pre-label."""
    started = [(item, value) for item, value, prelabel in shown if prelabel and key in prelabel]
    if not started:
        return None
    kept = sum(value.get(key) == prelabel[key] for _, value, prelabel in shown if prelabel and key in prelabel)
    blank = [(item, value) for item, value, prelabel in shown if not (prelabel and key in prelabel)]

    def agreement(group: list[tuple[int, dict]]) -> float | None:
        judged = [value.get(key) == consensus[item][key]["value"] for item, value in group
                  if key in consensus.get(item, {})]
        return round(sum(judged) / len(judged), 4) if judged else None

    return {"answers_from_prelabel": len(started), "kept_prelabel_share": round(kept / len(started), 4),
            "agree_with_consensus_from_prelabel": agreement(started), "answers_without_prelabel": len(blank),
            "agree_with_consensus_without_prelabel": agreement(blank)}


def _expert_labels(stage: Stage) -> list[tuple[int, str, dict]]:
    reviews = (Answer.objects.filter(task__stage__project_id=stage.project_id,
                                     task__stage__kind__in=[Stage.Kind.REVIEW, Stage.Kind.ADJUDICATION])
               .exclude(verdict=Answer.Verdict.REJECT).select_related("task__source_task__stage", "worker"))
    labels = []
    for review in reviews:
        if reviewed_label_task(review.task).stage_id == stage.pk:
            labels.append((review.task.item_id, review.worker.get_username(), review.value))
    return labels


def _field_figures(field: dict, crowd: list, experts: list, images: dict[str, ImageGeometry],
                   consensus: dict[int, dict]) -> dict | None:
    key, kind = field["key"], field["kind"]
    given = [(item, worker, value[key]) for item, worker, value in crowd if value.get(key) is not None]
    reviewed = [(item, expert, value[key]) for item, expert, value in experts if value.get(key) is not None]
    if kind in CATEGORICAL_KINDS:
        items, workers, values = _columns(given)
        _, _, counts = reproducibility.category_table(items, values)
        figures = {"kind": "categorical", "answers": len(given),
                   "fleiss_kappa": reproducibility.fleiss_kappa(counts).as_dict(),
                   "krippendorff_alpha": reproducibility.krippendorff_alpha(items, values, "nominal").as_dict()}
        comparison = "categorical"
    elif kind == "number" or kind in CALIPERS:
        unit = field.get("unit")
        if kind in CALIPERS:  # a caliper's size: its length in mm (px uncalibrated) or its angle in degrees
            size = _size_unit(_sizes(given))
            given, reviewed = _sizes(given, size), _sizes(reviewed, size)
            unit = {"length_mm": "mm", "length_px": "px", "degrees": "°"}.get(size or "")
        items, workers, values = _columns(given)
        figures = {"kind": "number" if kind == "number" else "measurement", "unit": unit, "answers": len(given),
                   "krippendorff_alpha": reproducibility.krippendorff_alpha(items, values, "interval").as_dict(),
                   "crowd": agreement_stats.crowd_reliability(items, values)}
        if reviewed:
            figures["expert_agreement"] = _crowd_median_vs_experts(given, reviewed)
        comparison = "number"
    elif kind in SPATIAL_SHAPES:
        return {"kind": "shape", "answers": len(given), **_shape_figures(key, given, reviewed, images, consensus)}
    elif kind == "points":
        return {"kind": "landmark", "answers": len(given), **_landmark_figures(key, given, reviewed, images, consensus)}
    else:
        return None
    if reviewed:
        rows = [(item, worker, "crowd", value) for item, worker, value in given] + \
               [(item, expert, "expert", value) for item, expert, value in reviewed]
        items, raters, tiers, values = (list(column) for column in zip(*rows, strict=True))
        figures["crowd_vs_expert"] = [comparison_row.as_dict() for comparison_row in reproducibility.compare_tiers(
            items, raters, tiers, values, kind=comparison)]
    return figures


def _sizes(rows: list, unit: str | None = None) -> list[tuple]:
    """(item, rater, size) of each caliper, or with `unit` None (item, rater, unit key) of each."""
    sized = [(item, rater, size) for item, rater, value in rows if (size := caliper_size(value))]
    if unit is None:
        return [(item, rater, size[0]) for item, rater, size in sized]
    return [(item, rater, size[1]) for item, rater, size in sized if size[0] == unit]


def _size_unit(rows: list[tuple]) -> str | None:
    """The unit key most calipers carry (an uncalibrated image's lengths stay apart, in px)."""
    return agreement_stats.common_unit([unit for *_, unit in rows]) if rows else None


def _crowd_median_vs_experts(given: list, reviewed: list) -> dict:
    """ICC(2,1), Bland-Altman and plot points of the crowd's median against the experts' value
    (the first expert's, where several labelled an item), over the items both gave."""
    crowd: dict = defaultdict(list)
    for item, _, value in given:
        crowd[item].append(float(value))
    expert: dict = {}
    for item, _, value in reviewed:
        expert.setdefault(item, float(value))
    items = [item for item in crowd if item in expert]
    figures = agreement_stats.paired_agreement([float(np.median(crowd[item])) for item in items],
                                               [expert[item] for item in items])
    return {"first": "crowd", "second": "experts", "items": len(items), **figures}


def _grid(value: dict, images: dict[str, ImageGeometry]) -> tuple[int, int, tuple[float, float] | None]:
    image = images.get(value.get("instance"))
    if image is not None:
        return image.rows, image.columns, image.spacing_mm
    if "rle" in value:
        return value["rows"], value["columns"], None
    outline = value.get("points") or [[value["x"] + value["width"], value["y"] + value["height"]]]
    return (*outline_grid([outline]), None)


def _shape_pair(first: dict, second: dict, images: dict[str, ImageGeometry]) -> tuple[float, float | None, str]:
    """Dice and Hausdorff distance (mm on a calibrated image) of two shapes, rasterized on their
    image's grid; the distance maps run on the crop holding both, where they are exact."""
    if (first.get("instance"), first.get("frame", 1)) != (second.get("instance"), second.get("frame", 1)):
        return 0.0, None, "px"
    rows, columns, spacing = _grid(first, images)
    a, b = answer_mask(first, rows, columns), answer_mask(second, rows, columns)
    both = np.argwhere(a | b)
    if len(both):
        (top, left), (bottom, right) = both.min(axis=0), both.max(axis=0) + 1
        a, b = a[top:bottom, left:right], b[top:bottom, left:right]
    return (reproducibility.dice(a, b), reproducibility.hausdorff_distance(a, b, spacing),
            "mm" if spacing else "px")


def _shape_figures(key: str, given: list, reviewed: list, images: dict[str, ImageGeometry],
                   consensus: dict[int, dict]) -> dict:
    """Dice and Hausdorff distance over every pair of crowd answers on an item, and of the crowd's
    consensus against each expert's shape."""
    by_item: dict = defaultdict(list)
    for item, _, value in given:
        by_item[item].append(value)
    pairs = [_shape_pair(first, second, images) for values in by_item.values()
             for first, second in combinations(values, 2)]
    dices = [dice for dice, _, _ in pairs]
    unit = agreement_stats.common_unit([unit for _, distance, unit in pairs if distance is not None])
    figures = {"pairs": len(pairs), "mean_dice": round(float(np.mean(dices)), 4) if dices else None,
               "min_dice": round(float(np.min(dices)), 4) if dices else None,
               "hausdorff": agreement_stats.summary([distance for _, distance, u in pairs if u == unit], unit)}
    if reviewed:
        figures["crowd_vs_expert"] = _consensus_vs_experts(key, reviewed, consensus, lambda crowd, expert: dict(
            zip(("dice", "hausdorff", "unit"), _shape_pair(crowd, expert, images), strict=True)))
    return figures


def _landmark_figures(key: str, given: list, reviewed: list, images: dict[str, ImageGeometry],
                      consensus: dict[int, dict]) -> dict:
    """Mean distance between corresponding landmarks of every pair of crowd answers on an item (mm
    when calibrated), and of the crowd's consensus against each expert's."""
    by_item: dict = defaultdict(list)
    for item, _, value in given:
        by_item[item].append(value)
    distances = [_landmark_pair(first, second, images) for values in by_item.values()
                 for first, second in combinations(values, 2)]
    unit = agreement_stats.common_unit([unit for distance, unit in distances if distance is not None])
    figures = {"pairs": len(distances),
               "distance": agreement_stats.summary([d for d, u in distances if d is not None and u == unit], unit)}
    if reviewed:
        figures["crowd_vs_expert"] = _consensus_vs_experts(key, reviewed, consensus, lambda crowd, expert: dict(
            zip(("distance", "unit"), _landmark_pair(crowd, expert, images), strict=True)))
    return figures


def _landmark_pair(first: dict, second: dict, images: dict[str, ImageGeometry]) -> tuple[float | None, str]:
    if ((first.get("instance"), first.get("frame", 1)) != (second.get("instance"), second.get("frame", 1))
            or len(first["points"]) != len(second["points"])):
        return None, "px"
    image = images.get(first.get("instance"))
    spacing = image.spacing_mm if image is not None else None
    return agreement_stats.landmark_distance(first["points"], second["points"], spacing), "mm" if spacing else "px"


def _consensus_vs_experts(key: str, reviewed: list, consensus: dict[int, dict], compare) -> list[dict]:
    """Per expert, the stored crowd consensus of each item they labelled compared with their label,
    summarized like compare_tiers' rows (first, second, items, figures)."""
    per_expert: dict = defaultdict(list)
    for item, expert, value in reviewed:
        crowd = consensus.get(item, {}).get(key, {}).get("value")
        if isinstance(crowd, dict):
            per_expert[str(expert)].append(compare(crowd, value))
    rows = []
    for expert, compared in per_expert.items():
        figures: dict = {}
        for name in ("dice", "hausdorff", "distance"):
            values = [row[name] for row in compared if name in row]
            if values:
                figures.update({f"{name}_{stat}": value for stat, value in agreement_stats.summary(values).items()
                                if stat in ("mean", "min", "max")})
        units = [row["unit"] for row in compared]
        rows.append({"first": "crowd", "second": expert, "items": len(compared), "figures": figures,
                     "unit": agreement_stats.common_unit(units)})
    return rows


def _columns(rows: list[tuple]) -> tuple[list, list, list]:
    if not rows:
        return [], [], []
    items, workers, values = zip(*rows, strict=True)
    return list(items), list(workers), list(values)
