"""The JSON and CSV files of an export, from its document (exports/selectors.export_document).
Pure module: no Django, no database.

JSON keeps the document's structure (one line per item). CSV has one row per item: the item's images and provenance,
then for every field of the label schemas (in schema order) the hard label flattened to columns
`label.<key>` (spatial values `label.<key>.<part>`: instance, frame, points as JSON, sizes) and
the soft label `soft.<key>.share`, `soft.<key>.votes` and, for single choices and yes/no, `soft.<key>.calibrated` (the
probability that the label is right, calibrated on experts' verdicts, where a consensus run had enough of
them), and for choices `soft.<key>.p.<option>` (the option's probability under the consensus the hard label came
from: a weighted method's posterior, or a vote's share of answers).

answers.csv and answers.json: every answer of a label stage to an exported item, one row each, by pseudonymous
worker, with what the stage's last consensus run learned of the worker per field.
"""
from __future__ import annotations

import csv
import io
import json

ITEM_COLUMNS = [
    "item", "status", "rejected", "decided_at", "study_uid", "series_uid", "instance_uid", "first_frame",
    "last_frame", "schema", "schema_version", "consensus_stage", "consensus_method", "consensus_answers",
    "consensus_confidence", "soft_stage", "soft_method", "soft_answers", "soft_confidence", "workers", "reviewers",
    "stage_path", "patient_pseudonym", "label_source", "soft_run", "soft_run_method", "soft_run_finished_at",
]
ANSWER_COLUMNS = ["item", "stage", "stage_position", "task_kind", "task_round", "round", "worker", "schema",
                  "schema_version", "skip_reason", "prelabel_shown", "created_at"]
# The parts of a spatial value, by field kind, in column order (see labeling/schema.py).
VALUE_PARTS = {
    "length": ["instance", "frame", "points", "length_mm", "length_px"],
    "angle": ["instance", "frame", "points", "degrees"],
    "points": ["instance", "frame", "points"],
    "bounding_box": ["instance", "frame", "x", "y", "width", "height"],
    "contour": ["instance", "frame", "points", "area_mm2", "area_px"],
    "freehand": ["instance", "frame", "points", "area_mm2", "area_px"],
    "brush_mask": ["instance", "frame", "rows", "columns", "rle", "area_mm2", "area_px"],
}
CHOICE_KINDS = {"single_choice", "multiple_choice", "yes_no_unsure"}
CALIBRATED_KINDS = {"single_choice", "yes_no_unsure"}  # what consensus runs calibrate (labeling/estimation.py)
NOT_AGGREGATED = {"text"}  # never compared, so no consensus (labeling/agreement.py)


def json_bytes(document: dict) -> bytes:
    """The document as one JSON object, compact, each item on a line of its own (contours and
    masks make items long; a line per item keeps the file readable and easy to diff)."""
    head = {key: value for key, value in document.items() if key not in ("items", "answers")}
    items = ",\n".join(_compact(record) for record in document["items"])
    return f'{_compact(head)[:-1]},"items":[\n{items}\n]}}\n'.encode()


def _compact(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def csv_bytes(document: dict) -> bytes:
    """One header row and one row per item, as UTF-8."""
    columns = field_columns(document["schemas"])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(ITEM_COLUMNS + [name for name, _ in columns])
    for record in document["items"]:
        row = _item_cells(record)
        row += [_cell(read(record)) for _, read in columns]
        writer.writerow(row)
    return buffer.getvalue().encode()


def answers_json_bytes(document: dict) -> bytes:
    """The answers table as JSON: `{format, format_version, project, export_version, schemas, answers}`,
    one answer a line."""
    head = {"format": "cardiocrowd-answers", "format_version": 1,
            **{key: document.get(key) for key in ("project", "export_version", "requested_at", "schemas")}}
    answers = ",\n".join(_compact(record) for record in document.get("answers", []))
    return f'{_compact(head)[:-1]},"answers":[\n{answers}\n]}}\n'.encode()


def answers_csv_bytes(document: dict) -> bytes:
    """One row per answer: ANSWER_COLUMNS, then per schema field its value flattened as in
    labels.csv (`answer.<key>`, `answer.<key>.<part>`) and what the last consensus run learned of
    the worker: `reliability.<key>` for categories and multiple choice, `bias.<key>` and
    `noise.<key>` for numbers (empty before the stage's first run)."""
    columns = answer_columns(document["schemas"])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(ANSWER_COLUMNS + [name for name, _ in columns])
    for record in document.get("answers", []):
        schema = record["schema"] or {}
        row = [record["item"], record["stage"], record["stage_position"], record["task_kind"], record["task_round"],
               record["round"], record["worker"], schema.get("name"), schema.get("version"), record["skip_reason"],
               record["prelabel_shown"], record["created_at"]]
        writer.writerow([_cell(value) for value in row] + [_cell(read(record)) for _, read in columns])
    return buffer.getvalue().encode()


def answer_columns(schemas: list[dict]) -> list[tuple[str, object]]:
    """(column name, reader of an answer record) for every field of the schemas."""
    columns: dict[str, object] = {}
    for name, read in field_columns(schemas):
        if name.startswith("label."):
            columns.setdefault("answer." + name.removeprefix("label."), _answer_value(read))
    for schema in schemas:
        for field in schema["definition"]["fields"]:
            key, kind = field["key"], field["kind"]
            if kind in CHOICE_KINDS:
                columns.setdefault(f"reliability.{key}", _estimate(key, "reliability"))
            elif kind == "number":
                columns.setdefault(f"bias.{key}", _estimate(key, "bias"))
                columns.setdefault(f"noise.{key}", _estimate(key, "noise"))
    return list(columns.items())


def _answer_value(read_label):
    return lambda record: read_label({"label": record["value"]})


def _estimate(key: str, part: str):
    return lambda record: (record["estimates"].get(key) or {}).get(part)


def field_columns(schemas: list[dict]) -> list[tuple[str, object]]:
    """(column name, reader of a record) for every field of the schemas; a key that several
    schema versions share is one set of columns."""
    columns: dict[str, object] = {}
    for schema in schemas:
        for field in schema["definition"]["fields"]:
            key, kind = field["key"], field["kind"]
            if kind in VALUE_PARTS:
                for part in VALUE_PARTS[kind]:
                    columns.setdefault(f"label.{key}.{part}", _label_part(key, part))
            elif kind == "frame_selection":
                for part in [*field["labels"], "instance"]:
                    columns.setdefault(f"label.{key}.{part}", _label_part(key, part))
            else:
                columns.setdefault(f"label.{key}", _label(key))
            if kind in NOT_AGGREGATED:
                continue
            columns.setdefault(f"soft.{key}.share", _soft(key, "share"))
            columns.setdefault(f"soft.{key}.votes", _soft(key, "votes"))
            if kind in CALIBRATED_KINDS:
                columns.setdefault(f"soft.{key}.calibrated", _soft(key, "calibrated"))
            if kind in CHOICE_KINDS:
                options = ["yes", "no", "unsure"] if kind == "yes_no_unsure" else [o["value"] for o in field["options"]]
                for option in options:
                    columns.setdefault(f"soft.{key}.p.{option}", _share_of(key, option))
    return list(columns.items())


def _label(key: str):
    return lambda record: (record["label"] or {}).get(key)


def _label_part(key: str, part: str):
    def read(record: dict):
        value = (record["label"] or {}).get(key)
        return value.get(part) if isinstance(value, dict) else None
    return read


def _soft(key: str, part: str):
    return lambda record: ((record["soft"] or {}).get("fields", {}).get(key) or {}).get(part)


def _share_of(key: str, option: str):
    def read(record: dict):
        found = ((record["soft"] or {}).get("fields", {}).get(key) or {}).get("distribution")
        return found.get(option) if found is not None else None
    return read


def _item_cells(record: dict) -> list[str]:
    provenance = record["provenance"]
    schema, consensus, soft = provenance["schema"] or {}, provenance["consensus"] or {}, record["soft"] or {}
    run = soft.get("run") or {}
    values = [
        record["item"], record["status"], record["rejected"], record["decided_at"], record["study_uid"],
        record["series_uid"], record["instance_uid"], record["first_frame"], record["last_frame"], schema.get("name"),
        schema.get("version"), consensus.get("stage"), consensus.get("method"), consensus.get("answers"),
        consensus.get("confidence"), soft.get("stage"), soft.get("method"), soft.get("answers"),
        soft.get("confidence"), provenance["workers"],
        ";".join(f"{review['username']}:{review['verdict']}" for review in provenance["reviewers"]),
        " > ".join(step["stage"] for step in provenance["stage_path"]), record.get("patient_pseudonym"),
        record.get("label_source"), run.get("id"), run.get("method"), run.get("finished_at"),
    ]
    return [_cell(value) for value in values]


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value) -> str:
    """Text of one cell: empty for no value, lists of options joined by ';', shapes as JSON."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in FORMULA_STARTS:
        return "'" + value  # a spreadsheet must show free text, never run it as a formula
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return ";".join(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)
