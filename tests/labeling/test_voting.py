import pytest

from labeling.consensus.voting import majority_vote, vote_fields


@pytest.mark.parametrize("labels, expected", [
    (["A4C", "A4C", "PLAX"], ("A4C", 2 / 3)),
    (["A4C"], ("A4C", 1.0)),
    (["A4C", "PLAX"], (None, 0.5)),
    (["yes", "no", "unsure", "yes"], ("yes", 0.5)),
    ([], (None, 0.0)),
])
def test_majority_vote(labels, expected):
    assert majority_vote(labels) == expected


def test_vote_fields_reports_the_weakest_field_as_confidence():
    answers = [{"view": "A4C", "quality": "good"}, {"view": "A4C", "quality": "poor"},
               {"view": "A4C", "quality": "good"}, {}]

    fields, confidence = vote_fields(answers, ["view", "quality"])

    assert fields == {"view": {"value": "A4C", "share": 1.0, "votes": 3},
                      "quality": {"value": "good", "share": 0.6667, "votes": 3}}
    assert confidence == 0.6667
