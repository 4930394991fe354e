"""The consistency rules an export checks before publishing (exports/consistency.py), on plain
documents: no database."""
from exports.consistency import BLANK, NOT_ARGMAX, describe, problems

DEFINITION = {"fields": [
    {"key": "quality", "kind": "single_choice", "required": True,
     "options": [{"value": "good"}, {"value": "fair"}, {"value": "poor"}]},
    {"key": "lvef", "kind": "number"},
]}


def record(item: int, label: dict | None, soft_quality: dict | None, *, status: str = "accepted",
           source: str | None = "consensus") -> dict:
    fields = {"lvef": {"value": 55.0, "share": 1.0, "votes": 2}}
    if soft_quality is not None:
        fields["quality"] = soft_quality
    return {"item": item, "status": status, "label": label, "label_source": source,
            "soft": {"stage": "Crowd", "method": "dawid_skene", "fields": fields},
            "provenance": {"schema": {"name": "s", "version": 1}}}


def document(*records: dict) -> dict:
    return {"schemas": [{"name": "s", "version": 1, "definition": DEFINITION}], "items": list(records)}


def soft(value, **distribution) -> dict:
    return {"value": value, "share": distribution.get(value), "distribution": distribution}


def test_a_hard_label_that_is_the_argmax_of_its_soft_labels_passes():
    checked = document(record(1, {"quality": "good", "lvef": 55.0}, soft("good", good=0.4, fair=0.35, poor=0.25)),
                       record(2, None, soft("poor", good=0.0, fair=0.0, poor=1.0), status="rejected", source=None))

    assert problems(checked) == []


def test_the_reported_bug_a_unanimous_fair_exported_as_good_beside_p_fair_1_is_caught():
    # Both workers said "fair"; the hard label is "good" at 0.40; the soft labels are the raw votes.
    checked = document(record(7, {"quality": "good"}, soft("good", good=0.0, fair=1.0, poor=0.0)))

    [problem] = problems(checked)

    assert (problem.item, problem.field, problem.rule) == (7, "quality", NOT_ARGMAX)
    assert str(problem) == ("item 7, field quality: the hard label is not the argmax of its soft labels (hard label "
                            "'good'; p(good)=0.0, p(fair)=1.0, p(poor)=0.0)")


def test_a_hard_label_other_than_the_soft_labels_value_is_caught():
    checked = document(record(3, {"quality": "fair"}, soft("good", good=0.5, fair=0.5, poor=0.0)))

    assert [(p.item, p.rule, p.detail) for p in problems(checked)] == [
        (3, NOT_ARGMAX, "hard label 'fair', the soft labels' consensus value 'good'")]


def test_a_tie_or_an_empty_value_is_a_blank_accepted_label():
    checked = document(record(4, {"lvef": 55.0}, soft(None, good=0.5, fair=0.5, poor=0.0)),
                       record(5, {"quality": "", "lvef": 55.0}, None),
                       record(6, {}, None))

    assert [(p.item, p.field, p.rule, p.detail) for p in problems(checked)] == [
        (4, "quality", BLANK, "a tie: the consensus has no value"), (5, "quality", BLANK, "an empty value"),
        (6, None, BLANK, "no label at all")]


def test_an_experts_correction_is_not_held_to_the_crowds_soft_labels():
    corrected = record(8, {"quality": "fair"}, soft("poor", good=0.0, fair=0.0, poor=1.0), source="review")

    assert problems(document(corrected)) == []


def test_the_message_names_every_item_and_rule_up_to_twenty():
    broken = [record(n, {"quality": "good"}, soft("good", good=0.1, fair=0.9, poor=0.0)) for n in range(1, 23)]

    message = describe(problems(document(*broken)))

    assert message.startswith("inconsistent labels, nothing published (22 items): item 1, field quality: the hard "
                              "label is not the argmax of its soft labels")
    assert "item 20, field quality" in message and "item 21," not in message and message.endswith("; and 2 more")


def test_a_worker_pseudonym_is_stable_in_a_project_and_differs_between_projects():
    from exports.selectors import worker_pseudonym

    first, again, other_worker, other_project = (worker_pseudonym("secret-a", 12), worker_pseudonym("secret-a", 12),
                                                 worker_pseudonym("secret-a", 13), worker_pseudonym("secret-b", 12))

    assert first == again and len({first, other_worker, other_project}) == 3
    assert first.startswith("W") and len(first) == 17
