import pytest

from labeling.routing import Decision, ModelOpinion, RoutingError, decide, draw, validate_rules

RULES = [
    {"if": {"skipped_as": ["poor image quality"]}, "then": {"send_to": 4}},
    {"if": {"confidence_below": 0.8}, "then": {"send_to": 2}},
    {"if": {"field": "view", "in": ["A4C"]}, "then": {"send_to": 3}},
    {"if": "always", "then": "accept"},
]
SURE_A4C = {"view": {"value": "A4C", "share": 1.0}}
SURE_PLAX = {"view": {"value": "PLAX", "share": 1.0}}


@pytest.mark.parametrize("consensus, confidence, skips, expected", [
    (SURE_A4C, 1.0, ["poor image quality"], Decision("send", 4, 0)),
    (SURE_A4C, 0.67, [], Decision("send", 2, 1)),
    (SURE_A4C, 1.0, [], Decision("send", 3, 2)),
    (SURE_PLAX, 1.0, ["not this view"], Decision("accept", None, 3)),
])
def test_the_first_matching_rule_decides(consensus, confidence, skips, expected):
    assert decide(RULES, task_id=7, consensus=consensus, confidence=confidence, skip_reasons=skips) == expected


def test_no_rules_accepts():
    assert decide([], task_id=1, consensus={}, confidence=0.0, skip_reasons=[]) == Decision("accept", None, None)


def test_a_random_share_audits_about_that_share_and_decides_the_same_way_twice():
    rules = [{"if": {"random_share": 0.05}, "then": {"send_to": 2}}]

    decisions = [decide(rules, task_id=n, consensus={}, confidence=1.0, skip_reasons=[]).action
                 for n in range(20_000)]

    assert 0.04 < decisions.count("send") / 20_000 < 0.06
    assert draw(123) == draw(123)


@pytest.mark.parametrize("rules, rule, message", [
    ([{"if": "always"}], 0, "a rule is"),
    ([{"if": {"colour": "red"}, "then": "accept"}], 0, "condition must be"),
    ([{"if": {"field": "view"}, "then": "accept"}], 0, "needs an 'in' list"),
    ([{"if": {"confidence_below": 2}, "then": "accept"}], 0, "from 0 to 1"),
    ([{"if": "always", "then": "accept"}, {"if": "always", "then": {"send_to": 9}}], 1, "another stage's position"),
    ([{"if": "always", "then": {"send_to": 1}}], 0, "another stage's position"),
])
def test_malformed_rules_name_the_rule(rules, rule, message):
    with pytest.raises(RoutingError) as refused:
        validate_rules(rules, stage_positions={1, 2, 3, 4}, own_position=1)

    assert refused.value.rule == rule and message in refused.value.message


JOINT = [
    {"if": {"model_agrees": True, "confidence_at_least": 0.9, "model_confidence_at_least": 0.9}, "then": "accept"},
    {"if": {"model_agrees": False}, "then": "one_more"},
    {"if": {"confidence_below": 0.8, "model_confidence_below": 0.8}, "then": {"send_to": 2}},
    {"if": "always", "then": "accept"},
]


@pytest.mark.parametrize("consensus, confidence, model, can_ask_more, expected", [
    (SURE_A4C, 0.95, ModelOpinion("view", "A4C", 0.97), True, Decision("accept", None, 0)),  # both sure, agree
    (SURE_A4C, 0.95, ModelOpinion("view", "PLAX", 0.97), True, Decision("one_more", None, 1)),  # they disagree
    (SURE_A4C, 0.6, ModelOpinion("view", "A4C", 0.55), True, Decision("send", 2, 2)),  # both unsure: an expert
    (SURE_A4C, 0.95, ModelOpinion("view", "PLAX", 0.97), False, Decision("accept", None, 3)),  # at most answers
    (SURE_A4C, 0.6, None, True, Decision("accept", None, 3)),  # no prediction: model rules do not hold
])
def test_routing_weighs_the_model_with_the_crowd(consensus, confidence, model, can_ask_more, expected):
    assert decide(JOINT, task_id=1, consensus=consensus, confidence=confidence, skip_reasons=[], model=model,
                  can_ask_more=can_ask_more) == expected


def test_joint_rules_are_valid_and_model_conditions_are_checked():
    assert validate_rules(JOINT, {1, 2}, own_position=1) == JOINT
    with pytest.raises(RoutingError, match="model_agrees is true or false"):
        validate_rules([{"if": {"model_agrees": "yes"}, "then": "accept"}], {1, 2}, own_position=1)
    with pytest.raises(RoutingError, match="model_confidence_below is a number from 0 to 1"):
        validate_rules([{"if": {"model_confidence_below": 2}, "then": "accept"}], {1, 2}, own_position=1)
