"""python -m labeling.consensus: a round trip on a real crowd set, and refusals of bad input files that
name the file and line and leave no output behind. No database."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from labeling.consensus.__main__ import main

REPOSITORY = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("CARDIOCROWD_SHARED_DATA", REPOSITORY.parent / "shared" / "data"))
SNOW_TEMP = SHARED_DATA / "crowd" / "snow_temp"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """An empty folder of the test's own (tests/conftest.py puts a data folder into tmp_path)."""
    path = tmp_path / "cli"
    path.mkdir()
    return path


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_round_trip_on_a_real_crowd_set(folder: Path) -> None:
    output, workers = folder / "consensus.csv", folder / "workers.csv"

    status = main(["--method", "ds", "--input", str(SNOW_TEMP / "answers.csv"), "--output", str(output),
                   "--workers", str(workers)])

    assert status == 0
    answers = read_rows(SNOW_TEMP / "answers.csv")
    gold = {row["item"]: row["label"] for row in read_rows(SNOW_TEMP / "gold.csv")}
    consensus = read_rows(output)
    assert list(consensus[0]) == ["item", "label", "confidence"]
    assert sorted(row["item"] for row in consensus) == sorted({row["item"] for row in answers})
    accuracy = sum(gold[row["item"]] == row["label"] for row in consensus) / len(consensus)
    assert accuracy >= 0.94  # crowd-kit's DawidSkene: 0.9416
    assert all(0.5 <= float(row["confidence"]) <= 1.0 for row in consensus)
    per_worker = read_rows(workers)
    assert list(per_worker[0]) == ["worker", "reliability", "answers"]
    assert sum(int(row["answers"]) for row in per_worker) == len(answers)
    assert all(0.0 <= float(row["reliability"]) <= 1.0 for row in per_worker)
    assert sorted(path.name for path in folder.iterdir()) == ["consensus.csv", "workers.csv"]  # no temp files


def test_gold_items_come_out_with_their_gold_label(folder: Path) -> None:
    answers = folder / "answers.csv"
    answers.write_text("item,worker,label\nclip1,ann,A4C\nclip1,bob,A4C\nclip2,ann,PLAX\nclip2,bob,PLAX\n")
    gold = folder / "gold.csv"
    gold.write_text("item,label\nclip1,A2C\nclip3,PLAX\n")
    output = folder / "consensus.csv"

    status = main(["--method", "mv", "--input", str(answers), "--gold", str(gold), "--output", str(output)])

    assert status == 0
    assert read_rows(output) == [
        {"item": "clip1", "label": "A2C", "confidence": "1.000000"},
        {"item": "clip2", "label": "PLAX", "confidence": "1.000000"},
        {"item": "clip3", "label": "PLAX", "confidence": "1.000000"},
    ]


def test_the_module_runs_as_a_command(folder: Path) -> None:
    output = folder / "consensus.csv"

    completed = subprocess.run(
        [sys.executable, "-m", "labeling.consensus", "--method", "glad", "--input", str(SNOW_TEMP / "answers.csv"),
         "--gold", str(SNOW_TEMP / "gold.csv"), "--output", str(output)],
        cwd=REPOSITORY, capture_output=True, text=True)

    assert completed.returncode == 0, completed.stderr
    assert "glad: 4620 answers, 462 items, 76 workers" in completed.stderr
    assert all(row["confidence"] == "1.000000" for row in read_rows(output))  # every item has gold here


GOOD_ANSWERS = "item,worker,label\nclip1,ann,A4C\nclip1,bob,A4C\n"


@pytest.mark.parametrize(("answers", "gold", "expected"), [
    ("item,label\nclip1,A4C\n", None, "answers.csv:1: missing column worker"),
    ("", None, "answers.csv:1: empty file"),
    ("item,worker,label\n", None, "answers.csv:2: no rows after the header"),
    ("item,worker,label\nclip1,ann,A4C\nclip1, ,A4C\n", None, "answers.csv:3: blank worker"),
    ("item,worker,label\n,ann,A4C\n", None, "answers.csv:2: blank item"),
    ("item,worker,label\nclip1,ann,\n", None, "answers.csv:2: blank label"),
    ("item,worker,label\nclip1,ann\n", None, "answers.csv:2: 2 cells, expected 3"),
    (GOOD_ANSWERS, "item,answer\nclip1,A4C\n", "gold.csv:1: missing column label"),
    (GOOD_ANSWERS, "item,label\nclip1,A4C\nclip1,A2C\n", "gold.csv:3: item clip1 has gold labels A4C and A2C"),
    (GOOD_ANSWERS, "", "gold.csv:1: empty file"),
])
def test_a_bad_input_file_is_refused_by_file_and_line(folder: Path, capsys, answers: str, gold: str | None,
                                                      expected: str) -> None:
    (folder / "answers.csv").write_text(answers)
    arguments = ["--input", str(folder / "answers.csv"), "--output", str(folder / "consensus.csv"),
                 "--workers", str(folder / "workers.csv")]
    if gold is not None:
        (folder / "gold.csv").write_text(gold)
        arguments += ["--gold", str(folder / "gold.csv")]

    status = main(arguments)

    assert status == 1
    assert f"error: {folder}/{expected}" in capsys.readouterr().err
    assert sorted(path.name for path in folder.iterdir()) == sorted(["answers.csv"] + (["gold.csv"] if gold is not
                                                                                          None else []))


def test_a_missing_input_file_is_refused(folder: Path, capsys) -> None:
    status = main(["--input", str(folder / "nowhere.csv"), "--output", str(folder / "consensus.csv")])

    assert status == 1
    assert f"error: {folder}/nowhere.csv: cannot read (No such file or directory)" in capsys.readouterr().err
    assert list(folder.iterdir()) == []


def test_a_refused_run_leaves_an_earlier_output_untouched(folder: Path) -> None:
    (folder / "answers.csv").write_text("item,worker,label\nclip1,,A4C\n")
    output = folder / "consensus.csv"
    output.write_text("item,label,confidence\nclip1,A4C,1.0\n")

    status = main(["--input", str(folder / "answers.csv"), "--output", str(output)])

    assert status == 1
    assert output.read_text() == "item,label,confidence\nclip1,A4C,1.0\n"


def test_an_unwritable_output_is_refused_without_a_trace(folder: Path, capsys) -> None:
    (folder / "answers.csv").write_text(GOOD_ANSWERS)

    status = main(["--input", str(folder / "answers.csv"), "--output", str(folder / "consensus.csv"),
                   "--workers", str(folder / "missing-folder" / "workers.csv")])

    assert status == 1
    assert "cannot write" in capsys.readouterr().err
    assert sorted(path.name for path in folder.iterdir()) == ["answers.csv"]


def test_an_unknown_method_is_a_usage_error(folder: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--method", "wawa", "--input", "a.csv", "--output", "b.csv"])

    assert exit_info.value.code == 2
    assert "invalid choice: 'wawa'" in capsys.readouterr().err
