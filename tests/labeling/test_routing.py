import pytest

from labeling.routing import Decision, RoutingError, decide, draw, validate_rules

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
