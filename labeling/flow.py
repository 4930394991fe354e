"""What happens when a task has its answers: consensus, adaptive redundancy, routing to the next
stage, back to an earlier one, or out of the pipeline with a final result for the item.

Everything here is idempotent per (task, round): a retried or duplicated aggregation finds the
round's routing decision already made and changes nothing."""
from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from . import audit
from .assignment import consensus_label, label_of, reviewed_label_task, unacceptable_reason
from .consensus.voting import consensus_fields, majority_vote
from .estimation import field_confidence, known_worker_posteriors
from .models import Answer, Consensus, ConsensusRun, Item, ResultProposal, RoutingDecision, Stage, Task
from .prelabels import model_opinion
from .quality import make_gold
from .routing import decide, uses_model
from .selectors import answers_images

# An item sent back more often than this stays where it is ("hold") for an admin to look at.
MAX_ROUNDS = 3


@transaction.atomic
def aggregate_task(*, task_id: int) -> Consensus | None:
    """Consensus of the task's current round; then either one more answer (adaptive redundancy)
    or the routing decision. Skips count as answers, not as votes."""
    task = (Task.objects.select_for_update(of=("self",)).select_related("stage__schema", "item")
            .filter(pk=task_id).first())
    if task is None or task.kind != Task.Kind.NORMAL or task.state != Task.State.COMPLETE:
        return None
    if RoutingDecision.objects.filter(task=task, round=task.round).exists():
        return Consensus.objects.filter(task=task).first()
    answers = list(task.answers.filter(round=task.round).order_by("pk"))
    stage = task.stage
    if stage.kind == Stage.Kind.LABEL:
        fields, confidence, method = label_consensus(stage, answers, item=task.item)
    else:
        fields, confidence = review_consensus(reviewed_label_task(task).stage.schema.definition["fields"], answers,
                                              item=task.item)
        method = "review_vote"
    consensus, _ = Consensus.objects.update_or_create(task=task, defaults={
        "method": method, "fields": fields, "confidence": confidence, "answer_count": len(answers)})
    if confidence < stage.confidence_target and task.target_answers < stage.max_redundancy:
        _ask_one_more(task, confidence)
        return consensus
    route_task(task=task, consensus=consensus, answers=answers)
    return consensus


def label_consensus(stage: Stage, answers: list[Answer], item: Item | None = None) -> tuple[dict, float, str]:
    """Vote, median, STAPLE (outlines, on the item's image grids) or medoid per field; categorical
    fields weighted by what the stage's last consensus run learned of each worker (Dawid-Skene),
    once there has been one."""
    values = [answer.value for answer in answers if not answer.skip_reason]
    images = answers_images(item, values) if item is not None else None
    fields, confidence = consensus_fields(stage.schema.definition["fields"], values, images)
    method, learned = known_worker_posteriors(stage, answers)
    if not learned:
        return fields, confidence, "majority_vote"
    # The run's method for categories (its name lists every learner, e.g. robust_measurement+dawid_skene).
    categorical = next((name for name in method.split("+") if name != "robust_measurement"), method)
    for key, (value, probability, calibrated, posterior, run) in learned.items():
        fields[key] = {**fields.get(key, {}), "value": value, "share": round(probability, 4),
                       "calibrated": None if calibrated is None else round(calibrated, 4),
                       "posterior": posterior, "method": categorical, "run": run}
        given = {str(answer.value[key]) for answer in answers if not answer.skip_reason
                 and answer.value.get(key) is not None}
        if len(given) == 1 and value not in given:
            # Every worker said the same and the learned model says otherwise: only an expert may overrule
            # them (route_task will not accept this). Kept beside the learned value for the reviewer.
            fields[key]["unanimous"] = given.pop()
    return fields, round(min(field_confidence(field) for field in fields.values()), 4), method


def review_consensus(fields: list[dict], answers: list[Answer], item: Item | None = None) -> tuple[dict, float]:
    """Reviewers agree when they keep or reject alike and, among those who keep, on the label:
    `_verdict` is keep/reject by majority, the schema's fields the consensus of the labels kept."""
    verdict, share = majority_vote("reject" if a.verdict == Answer.Verdict.REJECT else "keep" for a in answers)
    kept = [answer.value for answer in answers if answer.verdict != Answer.Verdict.REJECT]
    label, label_confidence = consensus_fields(fields, kept, answers_images(item, kept) if item is not None else None)
    confidence = min(share, label_confidence) if kept and label else share
    return {"_verdict": {"value": verdict, "share": round(share, 4), "votes": len(answers)}, **label}, \
        round(confidence, 4)


def _ask_one_more(task: Task, confidence: float, rule: int | None = None) -> None:
    task.target_answers += 1
    task.open_slots += 1
    task.state = Task.State.OPEN
    task.save(update_fields=["target_answers", "open_slots", "state"])
    audit.record("redundancy.raised", project_id=task.stage.project_id, stage_id=task.stage_id,
                 item_id=task.item_id, task_id=task.pk, confidence=confidence, target_answers=task.target_answers,
                 rule=rule)


def route_task(*, task: Task, consensus: Consensus, answers: list[Answer]) -> RoutingDecision | None:
    """Apply the stage's routing rules to a completed round: accept the item (final result),
    send it on, send it back to an earlier stage for a new round, or (None) ask for one more answer."""
    stage = task.stage
    skip_reasons = [answer.skip_reason for answer in answers if answer.skip_reason]
    # The model's prediction costs a query: only for stages whose rules ask about it.
    model = model_opinion(item_id=task.item_id, stage_id=task.stage_id) if uses_model(stage.routing) else None
    decision = decide(stage.routing, task_id=task.pk, consensus=consensus.fields, confidence=consensus.confidence,
                      skip_reasons=skip_reasons, model=model, can_ask_more=task.target_answers < stage.max_redundancy)
    if decision.action == "one_more":  # model and crowd disagree, say: the crowd answers once more
        _ask_one_more(task, consensus.confidence, rule=decision.rule)
        return None
    target, action = None, decision.action
    reason = unacceptable_reason(consensus.fields) if action == "accept" and stage.kind == Stage.Kind.LABEL else ""
    if reason:  # a tie, an empty consensus or an overruled unanimous vote is never accepted: experts decide
        target = review_stage_after(stage)
        action = "send" if target is not None and enqueue(stage=target, item=task.item, source=task) else "hold"
        target = target if action == "send" else None
    elif action == "send":
        target = Stage.objects.get(project_id=stage.project_id, position=decision.stage_position)
        action = "send" if target.position > stage.position else "send_back"
        if not enqueue(stage=target, item=task.item, source=task):
            action = "hold"
    elif not finalize_item(task, consensus, answers):
        action = "hold"
    routed = RoutingDecision.objects.create(task=task, round=task.round, action=action, target=target,
                                            rule=decision.rule, reason=reason)
    audit.record("routing.decided", project_id=stage.project_id, stage_id=stage.pk, item_id=task.item_id,
                 task_id=task.pk, schema_id=stage.schema_id, action=action, rule=decision.rule,
                 target=target.position if target else None, round=task.round, confidence=consensus.confidence,
                 reason=reason)
    return routed


def review_stage_after(stage: Stage) -> Stage | None:
    """The expert review stage an item of this label stage goes to when the crowd's answer cannot be
    accepted as it is: the nearest review stage the stage's rules send to, else the first after it."""
    reviews = {review.position: review for review in Stage.objects.filter(
        project_id=stage.project_id, kind=Stage.Kind.REVIEW, position__gt=stage.position)}
    targets = sorted(rule["then"]["send_to"] for rule in stage.routing if isinstance(rule["then"], dict)
                     and rule["then"].get("send_to") in reviews)
    if targets:
        return reviews[targets[0]]
    return reviews[min(reviews)] if reviews else None


def propose_result_change(*, item: Item, task: Task, proposed: dict, previous_consensus: dict,
                          run: ConsensusRun) -> ResultProposal:
    """A whole-stage run would change a result accepted straight from `task`: record the proposal and
    send the item to expert review, leaving the accepted result as it is until experts decide. With
    no review stage (or an item sent round too often) the proposal waits on the dashboard."""
    stage = task.stage
    review = review_stage_after(stage)
    queued = review is not None and enqueue(stage=review, item=item, source=task)
    ResultProposal.objects.filter(item=item, state__in=[ResultProposal.State.IN_REVIEW,
                                                       ResultProposal.State.UNROUTED]).update(
        state=ResultProposal.State.RESOLVED)  # superseded by what this run concluded
    proposal = ResultProposal.objects.create(
        item=item, task=task, run=run, previous=item.result or {}, proposed=proposed,
        previous_consensus=previous_consensus, state=ResultProposal.State.IN_REVIEW if queued
        else ResultProposal.State.UNROUTED, review_task=Task.objects.get(stage=review, item=item) if queued else None)
    # A second decision on the accepted round, told apart by its reason (the first stays: history).
    RoutingDecision.objects.update_or_create(
        task=task, round=task.round, reason=RoutingDecision.Reason.CONSENSUS_CHANGED,
        defaults={"action": "send" if queued else "hold", "target": review if queued else None, "rule": None})
    audit.record("result.change_proposed", project_id=stage.project_id, stage_id=stage.pk, item_id=item.pk,
                 task_id=task.pk, schema_id=stage.schema_id, run=run.pk, previous=item.result, proposed=proposed,
                 target=review.position if queued else None, proposal=proposal.pk)
    return proposal


def enqueue(*, stage: Stage, item: Item, source: Task | None) -> bool:
    """Queue an item in a stage: a new task, or a new round of the task it had there (fresh
    answers, new workers for crowd stages). False when the item has been round too often."""
    task, created = Task.objects.get_or_create(stage=stage, item=item, defaults={
        "open_slots": stage.redundancy, "target_answers": stage.redundancy, "source_task": source})
    if created:
        return True
    task = Task.objects.select_for_update().get(pk=task.pk)
    if task.kind != Task.Kind.NORMAL:
        return False  # became gold: it stays a known answer
    if task.state == Task.State.OPEN:
        task.source_task = source
        task.save(update_fields=["source_task"])
        return True
    if task.round >= MAX_ROUNDS:
        return False
    task.round += 1
    task.state, task.answer_count, task.source_task = Task.State.OPEN, 0, source
    task.open_slots = task.target_answers = stage.redundancy
    task.save(update_fields=["round", "state", "answer_count", "source_task", "open_slots", "target_answers"])
    return True


def finalize_item(task: Task, consensus: Consensus, answers: list[Answer]) -> bool:
    """The pipeline's last word on the item: its result, or its rejection. A reviewer's
    correction that stands becomes gold for the crowd stage it corrected. False when a review
    ended in a tie between keeping and rejecting (nothing to finalize)."""
    item = task.item
    if task.stage.kind == Stage.Kind.LABEL:
        item.status, item.result = Item.Status.ACCEPTED, label_of(consensus.fields)
    else:
        verdict = consensus.fields["_verdict"]["value"]
        if verdict is None:
            return False
        if verdict == "reject":
            item.status, item.result = Item.Status.REJECTED, None
        else:
            kept = [answer for answer in answers if answer.verdict != Answer.Verdict.REJECT]
            item.status, item.result = Item.Status.ACCEPTED, {**kept[0].value, **label_of(consensus.fields)}
            reviewed = reviewed_label_task(task)
            corrected = [answer for answer in kept if answer.verdict == Answer.Verdict.CORRECT]
            if corrected and item.result != consensus_label(reviewed) and reviewed.stage.audience == "crowd":
                make_gold(task=reviewed, value=item.result, explanation=corrected[0].note,
                          source="review", by_id=corrected[0].worker_id)
        # Experts have decided: a consensus change they were asked about is settled.
        ResultProposal.objects.filter(item=item, state=ResultProposal.State.IN_REVIEW).update(
            state=ResultProposal.State.RESOLVED)
    item.result_task, item.decided_at = task, timezone.now()
    item.save(update_fields=["status", "result", "result_task", "decided_at"])
    return True
