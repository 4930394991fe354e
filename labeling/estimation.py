"""Whole-stage re-estimation: worker reliability and consensus learned from every answer of a
label stage, the overlap between workers and the gold — for each categorical field by Dawid-Skene
(or any method of labeling/consensus/categorical.py), for each number by a robust estimate that
learns each worker's bias and noise (labeling/consensus/measurements.py).

A run reads everything, computes, then writes all its results in one transaction: a worker killed
half-way leaves the previous estimates and consensus untouched, and the retried task (acks_late)
does the whole job again. Completed items keep their routing (decisions are history); an item the
pipeline accepted from this stage keeps its result when a categorical value changes: the change is
proposed to expert review instead (flow.propose_result_change), since an accepted label may already
be exported. Each field is aggregated by the stage's consensus method; with "auto" the run records
which method was chosen and on what evidence (ConsensusRun.selection).
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np
from django.db import connection, transaction
from django.db.models import Count, F, Max, OuterRef, Q, Subquery
from django.utils import timezone

from .consensus.calibration import Calibration, describe_consensus, feature_names, fit_calibration
from .consensus.categorical import METHODS, aggregate_multilabel, ds_posteriors
from .consensus.categorical_base import Answers, encode, vote_counts
from .consensus.measurements import measurement_consensus
from .consensus.online import item_posterior, typical_confusion
from .consensus.voting import CATEGORICAL_KINDS
from .models import Answer, Consensus, ConsensusRun, GoldAnswer, Item, Stage, Task, WorkerEstimate
from .spatial_estimation import run_method, spatial_learners

# Posteriors this close count as tied.
TIE_TOLERANCE = 1e-9
METHOD_NAMES = {"ds": "dawid_skene", "ds_eb": "dawid_skene_eb", "onecoin": "one_coin", "glad": "glad", "mace": "mace",
                "mace_uniform": "mace_uniform", "mv": "majority_vote", "auto": "auto"}


def stages_due() -> list[tuple[int, int]]:
    """(stage id, answers) of the label stages with answers newer than their last finished run."""
    last_run = (ConsensusRun.objects.filter(stage=OuterRef("pk")).exclude(status=ConsensusRun.Status.RUNNING)
                .order_by("-started_at").values("started_at")[:1])
    stages = (Stage.objects.filter(kind=Stage.Kind.LABEL)
              .annotate(newest=Max("tasks__answers__created_at"), answers=Count("tasks__answers"),
                        last_run=Subquery(last_run))
              .filter(newest__isnull=False).filter(Q(last_run__isnull=True) | Q(newest__gt=F("last_run"))))
    return [(stage.pk, stage.answers) for stage in stages.select_related("schema")
            if categorical_fields(stage) or number_fields(stage) or multiple_choice_fields(stage)
            or spatial_learners(stage)]


def categorical_fields(stage: Stage) -> list[str]:
    return _fields_of(stage, CATEGORICAL_KINDS)


def number_fields(stage: Stage) -> list[str]:
    return _fields_of(stage, {"number"})


def multiple_choice_fields(stage: Stage) -> list[str]:
    return _fields_of(stage, {"multiple_choice"})


def _fields_of(stage: Stage, kinds: set[str]) -> list[str]:
    if stage.kind != Stage.Kind.LABEL or stage.schema is None:
        return []
    return [field["key"] for field in stage.schema.definition["fields"] if field["kind"] in kinds]


def reestimate_stage(*, stage_id: int, method: str | None = None) -> ConsensusRun | None:
    """Re-learn the stage's worker estimates and revise its consensus, by `method` or else the stage's
    consensus method. Returns the run (None for a stage with no categorical field). Raises whatever
    the data raises, after marking the run failed."""
    stage = Stage.objects.select_related("schema").get(pk=stage_id)
    method = method or stage.consensus_method
    if not (categorical_fields(stage) or number_fields(stage) or multiple_choice_fields(stage)
            or spatial_learners(stage)):
        return None
    # A run a killed worker left behind never finishes: say so before starting again.
    ConsensusRun.objects.filter(stage=stage, status=ConsensusRun.Status.RUNNING).update(
        status=ConsensusRun.Status.FAILED, error="interrupted (the worker running it stopped)",
        finished_at=timezone.now())
    run = ConsensusRun.objects.create(stage=stage, method=METHOD_NAMES[method])
    try:
        return _estimate(stage, method, run)
    except Exception as error:
        ConsensusRun.objects.filter(pk=run.pk).update(status=ConsensusRun.Status.FAILED, error=repr(error)[:2000],
                                                      finished_at=timezone.now())
        raise


def _estimate(stage: Stage, method: str, run: ConsensusRun) -> ConsensusRun:
    # The current round of every task (a send-back's earlier round is history) and every gold answer.
    rows = list(Answer.objects.filter(task__stage=stage, skip_reason="")
                .values_list("task_id", "worker_id", "value", "round", "task__round", "task__kind"))
    rows = [row for row in rows if row[5] != Task.Kind.NORMAL or row[3] == row[4]]
    gold = dict(GoldAnswer.objects.filter(task__stage=stage).values_list("task_id", "value"))
    expert = {**expert_decided_labels(stage), **gold}
    estimates, updates, priors, methods, calibrations, selections = [], {}, {}, [], {}, {}
    learners = {**{field: _learn_measurements for field in number_fields(stage)},
                **{field: _learn_label_sets for field in multiple_choice_fields(stage)},
                **{field: _learn_categories for field in categorical_fields(stage)}, **spatial_learners(stage)}
    for field, learn in learners.items():
        given = [(task, worker, value[field]) for task, worker, value, *_ in rows if value.get(field) is not None]
        known = {task: value[field] for task, value in gold.items() if value.get(field) is not None}
        if not given:
            continue
        checked = {task: value[field] for task, value in expert.items() if value.get(field) is not None}
        learned = learn(stage, field, given, known, method, run, checked)
        methods.append(getattr(learned, "method", None)
                       or ("robust_measurement" if learn is _learn_measurements else METHOD_NAMES[method]))
        if getattr(learned, "selection", None) is not None:
            selections[field] = learned.selection
        estimates += learned.estimates
        updates.update(learned.updates)
        if learned.prior is not None:
            priors[field] = learned.prior
        if learned.calibration is not None:
            calibrations[field] = learned.calibration.to_json()
    run.method = run_method(methods, run.method)  # what was learned, e.g. dawid_skene+robust_measurement
    with transaction.atomic():
        revised = _revise_consensus(stage, updates, run)
        WorkerEstimate.objects.filter(stage=stage).delete()
        WorkerEstimate.objects.bulk_create(estimates)
        ConsensusRun.objects.filter(pk=run.pk).update(
            status=ConsensusRun.Status.SUCCEEDED, finished_at=timezone.now(), answers=len(rows),
            workers=len({worker for _, worker, *_ in rows}), tasks=len({task for task, *_ in rows}), revised=revised,
            class_priors=priors, calibration=calibrations, method=run.method, selection=selections)
    run.refresh_from_db()
    return run


@dataclass
class _Learned:
    estimates: list[WorkerEstimate]
    updates: dict  # (task id, field) → what the field's consensus becomes
    prior: dict | None = None
    calibration: Calibration | None = None
    method: str = ""  # the method used, by its readable name
    selection: dict | None = None  # {"requested", "method", and auto's "basis", "reason", "scores"}


def _selection(requested: str, result: object) -> dict:
    """What a run records of a field's method: the one asked for, the one used and, for auto, why."""
    chosen = _jsonable(getattr(result, "selection", None)) or {"method": result.method}
    return {"requested": requested, **chosen}


def _jsonable(value: object) -> object:
    """auto's evidence as JSON: numpy numbers as Python ones, working values ("_" keys) left out."""
    if isinstance(value, dict):
        return {str(key): _jsonable(entry) for key, entry in value.items() if not str(key).startswith("_")}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(entry) for entry in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def expert_decided_labels(stage: Stage) -> dict[int, dict]:
    """Per task of this stage, the label an expert stage decided for its item (accepted after review
    or adjudication): the experts' verdict on what this stage concluded."""
    decided = (Task.objects.filter(stage=stage, item__status=Item.Status.ACCEPTED, item__result_task__isnull=False)
               .exclude(item__result_task__stage__kind=Stage.Kind.LABEL).values_list("pk", "item__result"))
    return {task: result for task, result in decided if result}


def _learn_categories(stage: Stage, field: str, given: list, known: dict, method: str, run: ConsensusRun,
                      checked: dict) -> _Learned:
    answers = encode(*zip(*given, strict=True), gold=known)
    result = METHODS[method](answers)
    used = METHOD_NAMES[result.method]
    counts = np.bincount(answers.workers, minlength=answers.n_workers)
    classes = [label.item() if isinstance(label, np.generic) else label for label in answers.classes]
    confusions = result.worker_confusion()
    estimates = []
    for index, worker in enumerate(answers.worker_ids):
        worker = worker.item() if isinstance(worker, np.generic) else worker
        estimates.append(WorkerEstimate(
            stage=stage, worker_id=worker, field=field, method=used, run=run,
            reliability=float(result.worker_reliability[index]), answers=int(counts[index]),
            learned={"labels": classes, "matrix": np.round(confusions[index], 6).tolist()}))
    calibration, calibrated = _calibrate(answers, confusions, result.class_prior, checked)
    hard, confidence = result.labels, result.confidence  # computed once: both are whole-array properties
    # A posterior tied between classes is no label (as the vote's tie): experts decide, never a tie rule.
    tied = (result.posteriors >= confidence[:, None] - TIE_TOLERANCE).sum(axis=1) > 1
    posteriors = np.round(result.posteriors, 4)
    # The posterior over every class is kept beside the hard label it was taken from, so an export's
    # soft labels are this same consensus (never a re-count of the raw votes, which may disagree).
    updates = {(task, field): {"value": None if tied[index] else classes[int(hard[index])],
                               "share": round(float(confidence[index]), 4),
                               "calibrated": None if calibrated is None else round(float(calibrated[index]), 4),
                               "posterior": dict(zip(map(str, classes), posteriors[index].tolist(), strict=True)),
                               "method": used, "run": run.pk}
               for index, task in enumerate(answers.item_ids)}
    prior = dict(zip(map(str, classes), result.class_prior.round(6).tolist(), strict=True))
    return _Learned(estimates, updates, prior, calibration, used, _selection(method, result))


# What a task's consensus is described by, here and when a task completes (known_worker_posteriors):
# the log-odds of its label given the workers' learned confusion, of the vote, and the answers.
CALIBRATION_METHODS = ("ds", "mv")


def _calibrate(answers: Answers, confusions: np.ndarray, class_prior: np.ndarray, checked: dict
               ) -> tuple[Calibration | None, np.ndarray | None]:
    """Fit P(consensus right) to the tasks experts checked — gold tasks, corrections, items decided
    after review — from what their answers alone said, and apply it to every task of the field.
    (None, None) until experts have confirmed and corrected enough labels (MIN_OUTCOMES each)."""
    posteriors = ds_posteriors(answers.without_gold(), confusions, class_prior)
    labels = np.argmax(posteriors, axis=1)
    votes = vote_counts(answers)
    rows = np.arange(answers.n_items)
    features = describe_consensus({"ds": posteriors[rows, labels],
                                   "mv": votes[rows, labels] / np.maximum(votes.sum(axis=1), 1)}, votes.sum(axis=1))
    position = {task: index for index, task in enumerate(answers.item_ids.tolist())}
    outcomes = [(position[task], answers.classes[labels[position[task]]] == value)
                for task, value in checked.items() if task in position]
    if not outcomes:
        return None, None
    indices, right = (np.array(column) for column in zip(*outcomes, strict=True))
    calibration = fit_calibration(features[indices], right, names=feature_names(CALIBRATION_METHODS))
    return calibration, None if calibration is None else calibration.probability_right(features)


def _learn_label_sets(stage: Stage, field: str, given: list, known: dict, method: str, run: ConsensusRun,
                      checked: dict) -> _Learned:
    """Multiple choice: one binary problem per option (ticked or not), each by `method`; the
    consensus keeps the options more likely ticked than not, its share the least sure of those calls."""
    result = aggregate_multilabel(*zip(*given, strict=True), method=method, gold=known)
    # Each option is its own binary problem, so auto may choose differently per option.
    used = "+".join(sorted({METHOD_NAMES[option.method] for option in result.per_label.values()}))
    used = used or METHOD_NAMES[method]
    counts = Counter(worker for _, worker, _ in given)
    options = [option.item() if isinstance(option, np.generic) else option for option in result.labels.tolist()]
    estimates = [WorkerEstimate(stage=stage, worker_id=int(worker), field=field, method=used, run=run,
                                reliability=round(float(result.reliability[index].mean()), 6),
                                answers=counts[worker],
                                learned={"options": options,
                                         "reliability": np.round(result.reliability[index], 6).tolist()})
                 for index, worker in enumerate(result.worker_ids.tolist())]
    certainty = np.maximum(result.probabilities, 1 - result.probabilities).min(axis=1)
    updates = {(int(task), field): {"value": sorted(chosen), "share": round(float(certainty[index]), 4),
                                    "method": used, "run": run.pk}
               for index, (task, chosen) in enumerate(zip(result.item_ids.tolist(), result.chosen(), strict=True))}
    selection = {"requested": method, "method": used}
    if any(option.selection for option in result.per_label.values()):
        selection["options"] = {str(option): _jsonable(outcome.selection)
                                for option, outcome in result.per_label.items()}
    return _Learned(estimates, updates, method=used, selection=selection)


def _learn_measurements(stage: Stage, field: str, given: list, known: dict, method: str, run: ConsensusRun,
                        checked: dict) -> _Learned:
    """Numbers: each worker's bias and noise learned from overlap and gold; a robust weighted
    estimate with a 95 % interval per item (labeling/consensus/measurements.py)."""
    tasks, task_index = np.unique([task for task, _, _ in given], return_inverse=True)
    workers, worker_index = np.unique([worker for _, worker, _ in given], return_inverse=True)
    position = {int(task): index for index, task in enumerate(tasks)}
    result = measurement_consensus(task_index, worker_index, np.array([value for _, _, value in given], dtype=float),
                                   gold={position[task]: float(value) for task, value in known.items()
                                         if task in position})
    estimates = [WorkerEstimate(stage=stage, worker_id=int(worker), field=field, method="robust_measurement",
                                run=run, reliability=None, answers=int(result.worker_answers[index]),
                                learned={"bias": round(float(result.worker_bias[index]), 4),
                                         "noise": round(float(result.worker_noise[index]), 4)})
                 for index, worker in enumerate(workers)]
    updates = {(int(task), field): {"value": round(float(result.estimate[index]), 4),
                                    "interval": [round(float(result.lower[index]), 4),
                                                 round(float(result.upper[index]), 4)],
                                    "method": "robust_measurement", "run": run.pk}
               for index, task in enumerate(tasks)}
    return _Learned(estimates, updates)


def field_confidence(entry: dict) -> float:
    """How sure a field's consensus is: calibrated on experts' verdicts where a run could, else the
    model's probability (or vote share)."""
    calibrated = entry.get("calibrated")
    return entry["share"] if calibrated is None else calibrated


def _revise_consensus(stage: Stage, updates: dict, run: ConsensusRun) -> int:
    consensus_rows = list(Consensus.objects.select_for_update().filter(task__stage=stage,
                                                                      task__kind=Task.Kind.NORMAL))
    fields = {field for _, field in updates}
    changed, revised_items = [], []
    for consensus in consensus_rows:
        updated = dict(consensus.fields)
        for field in fields:
            if (consensus.task_id, field) in updates:
                updated[field] = {**updated.get(field, {}), **updates[(consensus.task_id, field)]}
        if _without_run(updated) == _without_run(consensus.fields):
            continue  # a run that only confirms a consensus leaves it (and the run that set it) alone
        new_values = {f: updated[f]["value"] for f in fields if f in updated}
        if any(value != consensus.fields.get(f, {}).get("value") for f, value in new_values.items()):
            revised_items.append((consensus.task_id, new_values, consensus.fields))
        shares = [field_confidence(entry) for entry in updated.values() if "share" in entry]
        consensus.fields, consensus.method = updated, run.method
        consensus.confidence = round(min(shares), 4) if shares else consensus.confidence
        changed.append(consensus)
    _write_consensus(changed)
    _revise_results(stage, revised_items, run)
    return len(revised_items)


def _without_run(fields: dict) -> dict:
    return {key: {name: value for name, value in entry.items() if name != "run"} if isinstance(entry, dict) else entry
            for key, entry in fields.items()}


# One statement per 10,000 rows: bulk_update's CASE per row costs seconds a thousand rows.
UPDATE_CONSENSUS_SQL = """
UPDATE labeling_consensus c SET fields = v.fields::jsonb, method = v.method, confidence = v.confidence,
    updated_at = now()
FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::float8[]) AS v(id, fields, method, confidence)
WHERE c.id = v.id
"""


def _write_consensus(rows: list[Consensus]) -> None:
    for start in range(0, len(rows), 10_000):
        batch = rows[start:start + 10_000]
        with connection.cursor() as cursor:
            cursor.execute(UPDATE_CONSENSUS_SQL, [[row.pk for row in batch], [json.dumps(row.fields) for row in batch],
                                                  [row.method for row in batch], [row.confidence for row in batch]])


def _revise_results(stage: Stage, revised: list[tuple[int, dict, dict]], run: ConsensusRun) -> None:
    """Items the pipeline accepted straight from this stage keep their result when the run's values
    differ: the change goes to expert review as a proposal (an accepted label may be exported and
    used; a model refit must not flip it silently)."""
    from .flow import propose_result_change  # flow reads this module's estimates: imported late

    by_task = {task: (values, before) for task, values, before in revised}
    items = Item.objects.filter(result_task_id__in=by_task, status=Item.Status.ACCEPTED).select_related(
        "result_task__stage")
    for item in items:
        values, before = by_task[item.result_task_id]
        proposed = {**(item.result or {}), **values}
        if proposed != item.result:
            propose_result_change(item=item, task=item.result_task, proposed=proposed, previous_consensus=before,
                                  run=run)


def _in_order(confusion: dict, labels: list[str]) -> np.ndarray | None:
    """A worker's confusion matrix with rows and columns in `labels` order (None if its labels differ).
    The run's prior is stored as jsonb, which orders keys by length, so it rarely keeps the run's class
    order ("no", "yes", "unsure"): match by name, never by position."""
    own = [str(label) for label in confusion["labels"]]
    if sorted(own) != sorted(labels):
        return None
    index = [own.index(label) for label in labels]
    return np.array(confusion["matrix"])[np.ix_(index, index)]


def known_worker_posteriors(stage: Stage, answers: list[Answer]
                            ) -> tuple[str, dict[str, tuple[object, float, float | None, dict, int]]]:
    """The last run's method and, per categorical field, the consensus value, its probability given
    the worker estimates of that run, the probability that it is right as calibrated on experts'
    verdicts by that run (None where the run had too few), the posterior over every class (what an
    export's soft label is) and the run's id, for one completed task (nothing before the first run)."""
    run = stage.consensus_runs.filter(status=ConsensusRun.Status.SUCCEEDED).order_by("-pk").first()
    if run is None:
        return "", {}
    estimates = defaultdict(dict)  # only this task's workers: a stage may know thousands
    for estimate in WorkerEstimate.objects.filter(stage=stage, worker__in={answer.worker_id for answer in answers},
                                                  field__in=list(run.class_priors)):
        estimates[estimate.field][estimate.worker_id] = estimate.learned
    result = {}
    for field, prior in run.class_priors.items():
        labels = list(prior)
        given = [(answer.worker_id, str(answer.value[field])) for answer in answers
                 if not answer.skip_reason and answer.value.get(field) is not None]
        if not given or any(label not in labels for _, label in given):
            continue  # a label the run never saw: leave this field to the vote
        matrices = {worker: matrix for worker, confusion in estimates[field].items()
                    if (matrix := _in_order(confusion, labels)) is not None}
        fallback = typical_confusion(list(matrices.values()), len(labels))  # a newcomer counts as the others
        posterior = item_posterior([labels.index(label) for _, label in given],
                                   [matrices.get(worker, fallback) for worker, _ in given],
                                   np.array(list(prior.values())))
        best = int(np.argmax(posterior))
        tied = int((posterior >= posterior[best] - TIE_TOLERANCE).sum()) > 1
        calibrated = None
        if field in run.calibration:
            vote_share = sum(label == labels[best] for _, label in given) / len(given)
            features = describe_consensus({"ds": [posterior[best]], "mv": [vote_share]}, [len(given)])
            calibrated = float(Calibration.from_json(run.calibration[field]).probability_right(features)[0])
        distribution = dict(zip(labels, np.round(posterior, 4).tolist(), strict=True))
        result[field] = (None if tied else labels[best], float(posterior[best]), calibrated, distribution, run.pk)
    return run.method, result
