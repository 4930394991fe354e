"""What an export checks of its own labels before publishing anything. Pure module: no Django.

Two rules, over every accepted item of the document (exports/selectors.export_document):

- not blank: an accepted item has a label, and none of its single-choice or yes/no fields is empty
  (null or "") or missing where the crowd answered it (a consensus with no value: a tie);
- the hard label is the argmax of the soft labels: where the label stage's consensus set the hard
  label (`label_source` "consensus"), each single-choice or yes/no field's hard value is the
  consensus value its soft labels describe and has the highest probability in their distribution.
  Where experts set it (`label_source` "review": a correction may overrule the crowd) the soft
  labels are the crowd's that they reviewed and are not held to the expert's value.

An export breaking either is refused whole (exports/services.build_export): the error names every
item, field and rule broken, up to MAX_LISTED of them.
"""
from __future__ import annotations

from dataclasses import dataclass

CHECKED_KINDS = {"single_choice", "yes_no_unsure"}  # categories: one value, a distribution over options
MAX_LISTED = 20
BLANK = "an accepted label is blank"
NOT_ARGMAX = "the hard label is not the argmax of its soft labels"


@dataclass(frozen=True)
class Problem:
    item: int
    field: str | None
    rule: str
    detail: str

    def __str__(self) -> str:
        where = f"item {self.item}" + (f", field {self.field}" if self.field else "")
        return f"{where}: {self.rule} ({self.detail})"


def problems(document: dict) -> list[Problem]:
    """Every broken rule of the document's accepted items, in item order."""
    definitions = {(schema["name"], schema["version"]): schema["definition"] for schema in document["schemas"]}
    found = []
    for record in document["items"]:
        if record["status"] != "accepted":
            continue
        if not record["label"]:
            found.append(Problem(record["item"], None, BLANK, "no label at all"))
            continue
        schema = record["provenance"]["schema"]
        if schema is None:
            continue
        for field in definitions[(schema["name"], schema["version"])]["fields"]:
            if field["kind"] in CHECKED_KINDS:
                found += _field_problems(record, field)
    return found


def _field_problems(record: dict, field: dict) -> list[Problem]:
    key = field["key"]
    hard = record["label"].get(key)
    soft = ((record.get("soft") or {}).get("fields") or {}).get(key)
    if hard is None or hard == "":
        if soft is not None:  # the crowd answered the field and the consensus settled on nothing
            return [Problem(record["item"], key, BLANK, "a tie: the consensus has no value")]
        if key in record["label"]:
            return [Problem(record["item"], key, BLANK, "an empty value")]
        return []
    if record.get("label_source") != "consensus" or soft is None:
        return []
    distribution = soft.get("distribution")
    if soft.get("value") != hard:
        return [Problem(record["item"], key, NOT_ARGMAX, f"hard label {hard!r}, the soft labels' consensus value "
                                                         f"{soft.get('value')!r}")]
    if not distribution:
        return []
    probability, best = distribution.get(str(hard)), max(distribution.values())
    if probability is None or probability <= 0 or probability < best:
        shown = ", ".join(f"p({option})={value}" for option, value in distribution.items())
        return [Problem(record["item"], key, NOT_ARGMAX, f"hard label {hard!r}; {shown}")]
    return []


def describe(found: list[Problem]) -> str:
    """One message naming what is wrong, for the export's error and the audit trail."""
    listed = "; ".join(str(problem) for problem in found[:MAX_LISTED])
    more = f"; and {len(found) - MAX_LISTED} more" if len(found) > MAX_LISTED else ""
    items = len({problem.item for problem in found})
    return f"inconsistent labels, nothing published ({items} item{'s' if items != 1 else ''}): {listed}{more}"
