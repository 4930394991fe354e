"""Majority vote per categorical field, the vote share as its confidence."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable


def majority_vote(labels: Iterable[str]) -> tuple[str | None, float]:
    """The most frequent label and its share of the votes. A tie is no consensus (None) with the
    tied share: the routing must not treat a coin toss as agreement."""
    counts = Counter(labels)
    total = sum(counts.values())
    if not total:
        return None, 0.0
    (best, votes), *rest = counts.most_common()
    if rest and rest[0][1] == votes:
        return None, votes / total
    return best, votes / total


def vote_fields(answers: list[dict], keys: list[str]) -> tuple[dict[str, dict], float]:
    """Majority per field over the answers that gave one; returns {key: {"value", "share", "votes"}}
    and the overall confidence (the weakest field's share)."""
    fields, confidence = {}, 1.0
    for key in keys:
        labels = [answer[key] for answer in answers if answer.get(key) is not None]
        value, share = majority_vote(labels)
        fields[key] = {"value": value, "share": round(share, 4), "votes": len(labels)}
        confidence = min(confidence, share)
    return fields, round(confidence if fields else 0.0, 4)
