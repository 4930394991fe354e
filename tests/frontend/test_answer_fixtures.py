"""The answers the browser app sends (frontend/src/labeling/fixtures/answers.json, produced from
drafts by its serializer under Vitest) are accepted by the server's schema check as they are."""
import json
from pathlib import Path

import pytest

from labeling.schema import ImageGeometry, validate_answer, validate_schema

FIXTURES = json.loads((Path(__file__).resolve().parents[2] / "frontend" / "src" / "labeling" / "fixtures"
                       / "answers.json").read_text())
IMAGE = FIXTURES["image"]
IMAGES = {IMAGE["sop_instance_uid"]: ImageGeometry(rows=IMAGE["rows"], columns=IMAGE["columns"],
                                                   frames=IMAGE["frames"], spacing_mm=tuple(IMAGE["spacing_mm"]))}


def test_the_fixture_schema_is_valid():
    assert validate_schema(FIXTURES["schema"]) == FIXTURES["schema"]


@pytest.mark.parametrize("case", FIXTURES["cases"], ids=[case["name"] for case in FIXTURES["cases"]])
def test_what_the_browser_sends_is_accepted(case):
    normalized = validate_answer(FIXTURES["schema"], case["sent"], IMAGES)

    assert set(normalized) == set(case["sent"])
    for key, sent in case["sent"].items():
        if isinstance(sent, dict):  # the server adds sizes in mm; what was sent stays as it was
            assert {k: normalized[key][k] for k in sent} == sent
        else:
            assert normalized[key] == sent
