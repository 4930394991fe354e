"""A crowd worker labels the real 120-frame echo cine in Chromium: the first frame shows fast, the cine
plays at its recorded rate, a contour drawn with the mouse and ED/ES marks become the stored answer.
Measures time to first image and cine frame rate (printed, and kept in artifacts/figures.json)."""
from __future__ import annotations

import math
import statistics

import pytest

from cardiocrowd.accounts.models import Project
from labeling.design import StageDesign, append_stage, queue_series, save_schema_version
from labeling.models import Answer
from tests.conftest import ECHO_CINE
from tests.e2e.conftest import record_figures, screenshot, sign_in

SCHEMA = {"fields": [
    {"key": "view", "kind": "single_choice", "label": "View", "required": True,
     "options": [{"value": "PLAX", "label": "Parasternal long axis"}, {"value": "A4C", "label": "Apical 4-chamber"}]},
    {"key": "lv", "kind": "contour", "label": "LV cavity", "required": True},
    {"key": "phases", "kind": "frame_selection", "label": "Cardiac phases", "labels": ["ED", "ES"], "required": True},
]}


@pytest.fixture
def echo_stage(project, annotator, ingest):
    project.burned_in_policy = Project.BurnedInPolicy.MASK
    project.pixel_mask_rules = [{"modality": "US", "x": 0, "y": 0, "width": 130, "height": 62}]
    project.save()
    ingest(project, ECHO_CINE)
    schema = save_schema_version(project=project, name="lv", definition=SCHEMA, user=None)
    stage = append_stage(project=project, schema=schema, user=None,
                         design=StageDesign(name="LV at ED and ES", redundancy=1))
    queue_series(stage=stage, series_uids=None)
    return stage


def draw_ellipse(page, cx: float, cy: float, rx: float, ry: float, steps: int = 48) -> None:
    page.mouse.move(cx + rx, cy)
    page.mouse.down()
    for step in range(1, steps + 1):
        angle = 2 * math.pi * step / steps
        page.mouse.move(cx + rx * math.cos(angle), cy + ry * math.sin(angle))
    page.mouse.up()


def test_a_worker_labels_the_echo_cine_and_the_answer_is_stored(browser_for, echo_stage, annotator):
    page = browser_for("crowd1")
    sign_in(page, "crowd1")
    page.goto(f"{page.base_url}/app/projects/{echo_stage.project.slug}/stages/{echo_stage.pk}/work")
    page.wait_for_selector("[data-testid=viewer-canvas][data-ready=true]")
    page.wait_for_function("window.cardiocrowdMetrics && window.cardiocrowdMetrics.firstImageSinceNavigationMs")
    first_image_ms = page.evaluate("window.cardiocrowdMetrics.firstImageSinceNavigationMs[0]")
    page.wait_for_function("!document.querySelector('progress.viewer-progress')", timeout=60_000)  # all frames cached
    page.keyboard.press("Space")
    page.wait_for_timeout(6_500)
    page.keyboard.press("Space")
    rates = page.evaluate("window.cardiocrowdMetrics.cineFps || []")
    screenshot(page, "labeling-cine")

    page.get_by_role("radio", name="Parasternal long axis").click()
    page.get_by_role("slider", name="Frame").fill("0")
    page.get_by_role("button", name="Mark ED").click()
    page.get_by_role("button", name="Draw contour").click()
    canvas = page.get_by_test_id("viewer-canvas").bounding_box()
    draw_ellipse(page, canvas["x"] + canvas["width"] * 0.47, canvas["y"] + canvas["height"] * 0.5, 55, 42)
    page.wait_for_selector("text=/cm² on frame 1/")
    for _ in range(12):
        page.keyboard.press("ArrowRight")
    page.get_by_role("button", name="Mark ES").click()
    page.keyboard.press("ArrowLeft")
    for _ in range(11):
        page.keyboard.press("ArrowLeft")
    page.wait_for_timeout(500)
    shown_area = page.locator("[data-field=lv]").inner_text()
    screenshot(page, "labeling-contour")
    page.get_by_role("button", name="Submit and next").click()
    page.wait_for_selector("text=No task is left for you")

    answer = Answer.objects.get(worker=annotator)
    assert answer.value["view"] == "PLAX"
    assert answer.value["phases"] == {"ED": 1, "ES": 13, "instance": answer.value["lv"]["instance"]}
    assert answer.value["lv"]["frame"] == 1 and len(answer.value["lv"]["points"]) >= 20
    area_cm2 = answer.value["lv"]["area_mm2"] / 100
    assert 5 < area_cm2 < 60  # an LV-sized outline on a 0.5 mm/px image
    assert f"{area_cm2:.2f} cm² on frame 1" in shown_area  # the screen showed what the server stored
    assert page.errors == []
    record_figures("labeling_screen", {"first_image_ms": round(first_image_ms, 1),
                                       "cine_fps_median": round(statistics.median(rates), 1) if rates else None,
                                       "cine_fps_windows": rates, "recorded_fps": 30.0})
    assert rates and statistics.median(rates) > 10
