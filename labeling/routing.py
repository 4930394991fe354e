"""Routing rules: what happens to an item once its stage has a consensus. Pure module.

Rules are data an admin writes, tried in order; the first that matches decides:

    [{"if": {"confidence_below": 0.8}, "then": {"send_to": 2}},          # unsure → expert review
     {"if": {"skipped_as": ["poor image quality"]}, "then": {"send_to": 4}},  # any such skip → quality stage
     {"if": {"field": "view", "in": ["A4C"]}, "then": {"send_to": 3}},     # filter: only A4C goes on
     {"if": {"random_share": 0.05}, "then": {"send_to": 5}},              # 5 % audit
     {"if": "always", "then": "accept"}]

`send_to` names a stage position of the same project; an earlier stage is a send-back (the item
gets a new round there). In a review stage, the field `_verdict` is the reviewers' majority
"keep" or "reject": {"if": {"field": "_verdict", "in": ["reject"]}, "then": {"send_to": 1}}.
With no rule matching, the item is accepted: the stage's consensus is its result. The random
draw is a hash of the task id, so routing the same task twice decides the same way.

Once the stage has a trained model (training/), rules can weigh it with the crowd: the model's
prediction for the item, its probability, and whether it agrees with the consensus on its field:

    [{"if": {"model_agrees": true, "confidence_at_least": 0.9, "model_confidence_at_least": 0.9},
      "then": "accept"},                                                   # both sure, and agree
     {"if": {"model_agrees": false}, "then": "one_more"},                  # they disagree: one more answer
     {"if": {"confidence_below": 0.8, "model_confidence_below": 0.8}, "then": {"send_to": 2}}]  # both unsure

"one_more" asks the crowd for another answer (up to the stage's most answers per item; at that
limit the rule does not match). Model conditions do not match while the item has no prediction.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

MODEL_CONDITIONS = {"model_agrees", "model_confidence_below", "model_confidence_at_least"}
CONDITIONS = {"confidence_below", "confidence_at_least", "skipped_as", "field", "random_share", *MODEL_CONDITIONS}
PROBABILITY_CONDITIONS = ("confidence_below", "confidence_at_least", "random_share", "model_confidence_below",
                          "model_confidence_at_least")


class RoutingError(ValueError):
    """A rule list an admin wrote is malformed; `rule` is the index of the faulty rule."""

    def __init__(self, rule: int, message: str) -> None:
        super().__init__(f"rule {rule}: {message}")
        self.rule, self.message = rule, message


@dataclass(frozen=True)
class Decision:
    action: str  # "accept", "send" or "one_more"
    stage_position: int | None
    rule: int | None  # index of the rule that decided; None when no rule matched


def validate_rules(rules: list, stage_positions: set[int], own_position: int) -> list:
    """Check a stage's rules against the pipeline. Raises RoutingError naming the rule."""
    if not isinstance(rules, list):
        raise RoutingError(0, "rules are a list")
    for index, rule in enumerate(rules):
        if not isinstance(rule, dict) or set(rule) != {"if", "then"}:
            raise RoutingError(index, "a rule is {\"if\": condition, \"then\": outcome}")
        condition, outcome = rule["if"], rule["then"]
        if condition != "always":
            if not isinstance(condition, dict) or not set(condition) & CONDITIONS:
                raise RoutingError(index, f"condition must be 'always' or use one of {sorted(CONDITIONS)}")
            if "field" in condition and not isinstance(condition.get("in"), list):
                raise RoutingError(index, "a field condition needs an 'in' list")
            for key in PROBABILITY_CONDITIONS:
                if key in condition and not (isinstance(condition[key], (int, float)) and 0 <= condition[key] <= 1):
                    raise RoutingError(index, f"{key} is a number from 0 to 1")
            if "model_agrees" in condition and not isinstance(condition["model_agrees"], bool):
                raise RoutingError(index, "model_agrees is true or false")
        if outcome not in ("accept", "one_more"):
            target = outcome.get("send_to") if isinstance(outcome, dict) else None
            if target not in stage_positions or target == own_position:
                raise RoutingError(index, "then is 'accept', 'one_more' or {\"send_to\": another stage's position}")
    return rules


@dataclass(frozen=True)
class ModelOpinion:
    """What the stage's model says of the item: its answer for `field` and that answer's probability."""

    field: str
    value: object
    probability: float | None


def uses_model(rules: list) -> bool:
    """Whether any rule asks about the stage's model (only then is its prediction looked up)."""
    return any(rule["if"] != "always" and MODEL_CONDITIONS & set(rule["if"]) for rule in rules)


def decide(rules: list, *, task_id: int, consensus: dict, confidence: float, skip_reasons: list[str],
           model: ModelOpinion | None = None, can_ask_more: bool = False) -> Decision:
    """The first matching rule's outcome; accept when none matches. A "one_more" rule matches only
    while the task `can_ask_more`."""
    for index, rule in enumerate(rules):
        if rule["then"] == "one_more" and not can_ask_more:
            continue
        if _matches(rule["if"], task_id=task_id, consensus=consensus, confidence=confidence,
                    skip_reasons=skip_reasons, model=model):
            if rule["then"] in ("accept", "one_more"):
                return Decision(rule["then"], None, index)
            return Decision("send", rule["then"]["send_to"], index)
    return Decision("accept", None, None)


def _matches(condition, *, task_id: int, consensus: dict, confidence: float, skip_reasons: list[str],
             model: ModelOpinion | None) -> bool:
    if condition == "always":
        return True
    checks = []
    if "confidence_below" in condition:
        checks.append(confidence < condition["confidence_below"])
    if "confidence_at_least" in condition:
        checks.append(confidence >= condition["confidence_at_least"])
    if MODEL_CONDITIONS & set(condition):
        if model is None:
            return False  # no prediction yet: a rule about the model cannot hold
        if "model_agrees" in condition:
            agrees = consensus.get(model.field, {}).get("value") == model.value
            checks.append(agrees == condition["model_agrees"])
        probability = model.probability if model.probability is not None else 0.0
        if "model_confidence_below" in condition:
            checks.append(probability < condition["model_confidence_below"])
        if "model_confidence_at_least" in condition:
            checks.append(probability >= condition["model_confidence_at_least"])
    if "skipped_as" in condition:
        checks.append(any(reason in condition["skipped_as"] for reason in skip_reasons))
    if "field" in condition:
        checks.append(consensus.get(condition["field"], {}).get("value") in condition["in"])
    if "random_share" in condition:
        checks.append(draw(task_id) < condition["random_share"])
    return all(checks)  # several conditions in one rule must all hold


def draw(task_id: int) -> float:
    """A uniform number in [0, 1) fixed for the task."""
    return int.from_bytes(hashlib.sha256(f"route:{task_id}".encode()).digest()[:8], "big") / 2**64
