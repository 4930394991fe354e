"""Inter-observer agreement of a label stage, per field: the reproducibility figures a study
reports, computed by labeling/consensus/reproducibility.py from the stage's answers.

The crowd's answers are those of each task's current round (gold and qualification items
included); the experts' are the labels they
stood behind in the review and adjudication stages that reviewed this stage's items (an accept
counts as the consensus it accepted, a correction as the correction; rejections carry no label).
"""
from __future__ import annotations

from .agreement import similarity
from .assignment import reviewed_label_task
from .consensus import reproducibility
from .consensus.voting import CATEGORICAL_KINDS
from .models import Answer, Consensus, Stage

SPATIAL_SHAPES = {"bounding_box", "contour", "freehand", "brush_mask"}


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
    for field in stage.schema.definition["fields"]:
        figures = _field_figures(field, crowd, experts)
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


def _field_figures(field: dict, crowd: list, experts: list) -> dict | None:
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
    elif kind == "number":
        items, workers, values = _columns(given)
        figures = {"kind": "number", "answers": len(given),
                   "krippendorff_alpha": reproducibility.krippendorff_alpha(items, values, "interval").as_dict()}
        comparison = "number"
    elif kind in SPATIAL_SHAPES:
        return {"kind": "shape", "answers": len(given), **_pairwise_dice(field, given)}
    else:
        return None
    if reviewed:
        rows = [(item, worker, "crowd", value) for item, worker, value in given] + \
               [(item, expert, "expert", value) for item, expert, value in reviewed]
        items, raters, tiers, values = (list(column) for column in zip(*rows, strict=True))
        figures["crowd_vs_expert"] = [comparison_row.as_dict() for comparison_row in reproducibility.compare_tiers(
            items, raters, tiers, values, kind=comparison)]
    return figures


def _columns(rows: list[tuple]) -> tuple[list, list, list]:
    if not rows:
        return [], [], []
    items, workers, values = zip(*rows, strict=True)
    return list(items), list(workers), list(values)


def _pairwise_dice(field: dict, given: list) -> dict:
    """Mean Dice over every pair of answers on the same item (shapes rasterized on a shared grid)."""
    by_item: dict[int, list] = {}
    for item, _, value in given:
        by_item.setdefault(item, []).append(value)
    scores = [similarity(field, first, second) for values in by_item.values()
              for index, first in enumerate(values) for second in values[index + 1:]]
    return {"pairs": len(scores), "mean_dice": round(sum(scores) / len(scores), 4) if scores else None,
            "min_dice": round(min(scores), 4) if scores else None}
