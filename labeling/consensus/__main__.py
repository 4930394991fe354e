"""Aggregate crowd answers from CSV files.

    python -m labeling.consensus --method auto --input answers.csv --output consensus.csv \\
        [--gold gold.csv] [--workers workers.csv]

`auto` (the default) chooses the method from the answers and the known labels (selection.py) and
says which it chose and why on stderr.

answers.csv has the header item,worker,label (one answer a row); gold.csv item,label. consensus.csv
gets item,label,confidence (one row per item), workers.csv worker,reliability,answers. A bad input
file stops the run with "FILE:LINE: problem" and exit status 1 before anything is written; outputs
are written to a temporary file and renamed, so a crash never leaves half a file.
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .categorical import METHODS, aggregate, encode, item_consensus

ANSWER_COLUMNS = ("item", "worker", "label")
GOLD_COLUMNS = ("item", "label")


class InputError(Exception):
    """A CSV input the engine cannot use; the message names the file and line."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labeling.consensus", description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", choices=sorted(METHODS), default="auto")
    parser.add_argument("--input", type=Path, required=True, help="answers CSV: item,worker,label")
    parser.add_argument("--output", type=Path, required=True, help="consensus CSV to write: item,label,confidence")
    parser.add_argument("--gold", type=Path, help="known labels CSV: item,label (clamped, they anchor the workers)")
    parser.add_argument("--workers", type=Path, help="worker CSV to write: worker,reliability,answers")
    arguments = parser.parse_args(argv)

    try:
        (items, workers, labels), _ = read_columns(arguments.input, ANSWER_COLUMNS)
        gold = read_gold(arguments.gold) if arguments.gold else None
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    answers = encode(items, workers, labels, gold=gold)
    result = aggregate(answers, method=arguments.method)

    rows = [(item, label, f"{confidence:.6f}") for item, label, confidence in item_consensus(answers, result)]
    outputs = [(arguments.output, ("item", "label", "confidence"), rows)]
    if arguments.workers:
        counts = np.bincount(answers.workers, minlength=answers.n_workers).tolist()
        reliability = result.worker_reliability.tolist()
        worker_rows = [(worker, f"{score:.6f}", count)
                       for worker, score, count in zip(answers.worker_ids.tolist(), reliability, counts, strict=True)]
        outputs.append((arguments.workers, ("worker", "reliability", "answers"), worker_rows))
    try:
        write_all(outputs)
    except OSError as error:
        print(f"error: {error.filename or ''}: cannot write ({error.strerror})", file=sys.stderr)
        return 1
    if result.selection is not None:
        print(f"auto chose {result.selection['method']}: {result.selection['reason']}", file=sys.stderr)
    print(f"{result.method}: {answers.n_answers} answers, {answers.n_items} items, {answers.n_workers} workers, "
          f"{result.iterations} iterations{'' if result.converged else ' (not converged)'}", file=sys.stderr)
    return 0


def read_columns(path: Path, columns: Sequence[str]) -> tuple[tuple[list[str], ...], list[int]]:
    """The named columns of a CSV file as lists of stripped strings, and each row's line number.
    Raises InputError for a missing file, an empty file, a missing column, a short row or a blank cell."""
    try:
        handle = open(path, newline="", encoding="utf-8-sig")  # Excel writes a byte-order mark
    except OSError as error:
        raise InputError(f"{path}: cannot read ({error.strerror})") from error
    with handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or not any(cell.strip() for cell in header):
            raise InputError(f"{path}:1: empty file, expected the header {','.join(columns)}")
        names = [cell.strip().lower() for cell in header]
        missing = [column for column in columns if column not in names]
        if missing:
            raise InputError(f"{path}:1: missing column {', '.join(missing)} (header is {','.join(header)})")
        positions = [names.index(column) for column in columns]
        width = max(positions) + 1
        values: tuple[list[str], ...] = tuple([] for _ in columns)
        lines: list[int] = []
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue  # a trailing blank line is not an answer
            if len(row) < width:
                raise InputError(f"{path}:{reader.line_num}: {len(row)} cells, expected {len(header)}")
            for column, position, target in zip(columns, positions, values, strict=True):
                cell = row[position].strip()
                if not cell:
                    raise InputError(f"{path}:{reader.line_num}: blank {column}")
                target.append(cell)
            lines.append(reader.line_num)
    if not lines:
        raise InputError(f"{path}:2: no rows after the header")
    return values, lines


def read_gold(path: Path) -> dict[str, str]:
    """item → label from a gold CSV. Raises InputError as read_columns does, and for an item given two labels."""
    (items, labels), lines = read_columns(path, GOLD_COLUMNS)
    gold: dict[str, str] = {}
    for line, item, label in zip(lines, items, labels, strict=True):
        if gold.setdefault(item, label) != label:
            raise InputError(f"{path}:{line}: item {item} has gold labels {gold[item]} and {label}")
    return gold


def write_all(outputs: list[tuple[Path, tuple[str, ...], list[tuple]]]) -> None:
    """Write every file to a temporary sibling first, then rename them all, so that a failure leaves
    no output half-written."""
    written: list[tuple[str, Path]] = []
    try:
        for path, header, rows in outputs:
            descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or Path("."))
            written.append((temporary, path))
            os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide the result from the rest of the team
            with os.fdopen(descriptor, "w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(header)
                writer.writerows(rows)
        for temporary, path in written:
            os.replace(temporary, path)
    finally:
        for temporary, _ in written:
            if os.path.exists(temporary):
                os.unlink(temporary)


if __name__ == "__main__":
    sys.exit(main())
