"""The whole platform in the browser, as its users work it: an admin designs a two-stage project
(a crowd stage with a qualification, then cardiologist review) and imports real echo cines from a
server folder; two crowd workers qualify and label (a view choice, an LV contour, ED and ES picked
on the cine); the cardiologist reviews their answers and corrects the contour; the export holds the
correction. Every step checks what the page shows and what the database holds, and saves a
screenshot of the screen (tests/e2e/artifacts/)."""
from __future__ import annotations

import csv
import io
import json
import math
import shutil

import pytest
from pydicom import dcmread

from cardiocrowd.accounts.models import Membership, Project
from cardiocrowd.imaging.models import SourceMapping
from exports.models import Export
from labeling.models import Answer, GoldAnswer, Item, LabelSchema, Stage, Task
from tests.conftest import DICOM_DATA, ECHO_CINE
from tests.e2e.conftest import screenshot, sign_in
from tests.factories import UserFactory

QUALIFICATION_CINE = DICOM_DATA / "pydicom-data" / "OBXXXX1A_2frame.dcm"  # a 2-frame ultrasound of its own
SCHEMA = {"fields": [
    {"key": "view", "kind": "single_choice", "label": "View", "required": True, "options": [
        {"value": "PLAX", "label": "Parasternal long axis"}, {"value": "A4C", "label": "Apical 4-chamber"}]},
    {"key": "lv", "kind": "contour", "label": "LV cavity", "help": "Trace the LV endocardium on the ED frame."},
    {"key": "phases", "kind": "frame_selection", "label": "Cardiac phases", "labels": ["ED", "ES"], "required": True},
]}
INSTRUCTIONS = "## LV at end-diastole\n\nPick the view, trace the **LV cavity** on the ED frame, mark ED and ES."


@pytest.fixture
def people(db):
    admin = UserFactory(username="admin", is_staff=True)
    return {"admin": admin, **{name: UserFactory(username=name) for name in ("crowd1", "crowd2", "cardiologist")}}


@pytest.fixture
def import_folder(tmp_path, settings):
    folder = tmp_path / "incoming" / "echo"
    folder.mkdir(parents=True)
    for source in (ECHO_CINE, QUALIFICATION_CINE):
        shutil.copy(source, folder / source.name)
    settings.CARDIOCROWD_IMPORT_ROOTS = [tmp_path / "incoming"]
    return folder


def series_of(path) -> str:
    """The de-identified series UID the platform gave a source file's series."""
    source_series = dcmread(path, stop_before_pixels=True).SeriesInstanceUID
    return SourceMapping.objects.get(project__slug="echo-lv", kind="series", source_value=source_series).pseudonym


def draw_ellipse(page, rx: float, ry: float, *, dx: float = 0, dy: float = 0) -> None:
    canvas = page.get_by_test_id("viewer-canvas").bounding_box()
    cx, cy = canvas["x"] + canvas["width"] * 0.47 + dx, canvas["y"] + canvas["height"] * 0.5 + dy
    page.mouse.move(cx + rx, cy)
    page.mouse.down()
    for step in range(1, 49):
        angle = 2 * math.pi * step / 48
        page.mouse.move(cx + rx * math.cos(angle), cy + ry * math.sin(angle))
    page.mouse.up()


def wait_for_image(page) -> None:
    page.wait_for_selector("[data-testid=viewer-canvas][data-ready=true]")


def design_the_project(page, import_folder) -> None:
    sign_in(page, "admin")
    page.get_by_role("link", name="New project").click()
    page.get_by_label("Project name").fill("Echo LV study")
    page.get_by_label("Address (slug)").fill("echo-lv")
    page.get_by_label("Black out the regions below").check()
    # Both ultrasound machines burn the date and their header into the top 62 rows.
    page.get_by_role("button", name="Add region").click()
    rule = page.get_by_role("group", name="Mask rule 1")
    rule.get_by_label("Width").fill("")
    rule.get_by_label("Height").fill("62")
    screenshot(page, "01-admin-new-project")
    page.get_by_role("button", name="Create project").click()
    page.wait_for_url("**/projects/echo-lv/design**")

    # The label schema, pasted as JSON, previewed as the worker will see it, saved as version 1.
    page.get_by_label("Name of the new schema").fill("lv")  # a project without schemas starts a new one
    page.get_by_role("button", name="JSON").click()
    page.get_by_label("Schema as JSON").fill(json.dumps(SCHEMA, indent=2))
    page.get_by_role("button", name="Apply JSON").click()
    preview = page.locator(".schema-layout")
    assert preview.get_by_role("button", name="Draw contour").is_visible()
    assert preview.get_by_role("button", name="Mark ES").is_visible()
    screenshot(page, "02-admin-schema-editor")
    page.get_by_role("button", name="Save version 1").click()
    page.get_by_text("No changes").wait_for()  # saved: the editor now shows version 1 of "lv"

    # The pipeline: crowd stage with a qualification, then cardiologist review; everything goes on.
    page.get_by_role("link", name="Pipeline").click()
    add = page.get_by_role("region", name="Add a stage at the end")
    add.get_by_label("Name").fill("Crowd: LV")
    add.get_by_label("Answers per item (k)").fill("2")
    add.get_by_label("Qualification first").check()
    add.get_by_role("button", name="Add stage").click()
    page.get_by_role("heading", name="1. Crowd: LV").wait_for()
    add.get_by_label("Name").fill("Cardiologist review")
    add.get_by_label("Kind").select_option("review")
    add.get_by_label("Answers per item (k)").fill("1")
    add.get_by_role("button", name="Add stage").click()
    page.get_by_role("heading", name="2. Cardiologist review").wait_for()
    crowd_card = page.locator("article.stage-card").filter(has=page.get_by_role("heading", name="1. Crowd: LV"))
    crowd_card.get_by_role("button", name="Edit").click()
    crowd_card.get_by_role("button", name="Add rule").click()
    crowd_card.get_by_label("Consensus confidence below").uncheck()  # no condition: every item goes to review
    crowd_card.get_by_role("button", name="Save routing").click()
    crowd_card.get_by_text("1 routing rule").wait_for()
    screenshot(page, "03-admin-pipeline")

    # Instructions and members.
    page.get_by_role("link", name="Settings").click()
    page.get_by_label("Markdown").fill(INSTRUCTIONS)
    page.get_by_role("button", name="Save instructions").click()
    page.get_by_role("button", name="Save instructions").wait_for(state="attached")
    members = page.locator("form").filter(has=page.get_by_label("User name"))
    for username, role in [("crowd1", "crowd"), ("crowd2", "crowd"), ("cardiologist", "expert")]:
        members.get_by_label("User name").fill(username)
        members.locator("select").select_option(role)
        members.get_by_role("button", name="Add or change member").click()
        page.get_by_label(f"Role of {username}").wait_for()
    screenshot(page, "04-admin-settings")

    # Real echo cines from a server folder, with the import's progress; the long cine is queued.
    page.get_by_role("link", name="Data").click()
    page.get_by_label("Folders or files, one per line").fill(str(import_folder))
    page.locator("form").filter(has=page.get_by_label("Folders or files, one per line")) \
        .get_by_role("button", name="Import").click()
    page.get_by_text("2 of 2 done · 2 imported").wait_for(timeout=120_000)
    page.get_by_role("button", name="Refresh").last.click()
    labeled_series = series_of(ECHO_CINE)
    page.get_by_role("row").filter(has_text=labeled_series[-12:]).get_by_role("checkbox").check()
    page.get_by_role("button", name="Queue 1 chosen series").click()
    page.get_by_text("Queued 1 new item").wait_for()
    screenshot(page, "05-admin-data")

    # The qualification item: the other cine, answered by the admin on the viewer.
    page.get_by_role("link", name="Gold and qualification").click()
    qualification_series = series_of(QUALIFICATION_CINE)
    gold = page.get_by_role("region", name="Add a gold or qualification item")
    gold.locator("label", has_text="Series").locator("select").select_option(qualification_series)
    page.get_by_label("Qualification (before the work, with feedback)").check()
    wait_for_image(page)
    page.get_by_role("radio", name="Parasternal long axis").click()
    page.get_by_role("button", name="Mark ED").click()
    page.get_by_title("Next frame (→)").click()
    page.get_by_role("button", name="Mark ES").click()
    page.get_by_label("Explanation shown to workers").fill("A parasternal long-axis view; ED on frame 1, ES on 2.")
    screenshot(page, "06-admin-qualification-item")
    page.get_by_role("button", name="Save as qualification item").click()
    page.get_by_role("cell", name="qualification").first.wait_for()


def qualify_and_label(page, username: str, *, contour: tuple[float, float]) -> None:
    sign_in(page, username)
    page.get_by_role("link", name="Label").click()
    wait_for_image(page)
    assert page.get_by_text("LV at end-diastole").is_visible()  # the project's instructions
    assert page.get_by_text("Qualification: answer these 1 items").is_visible()
    page.keyboard.press("1")  # Parasternal long axis
    page.get_by_role("button", name="Mark ED").click()
    page.keyboard.press("ArrowRight")
    page.get_by_role("button", name="Mark ES").click()
    page.get_by_role("button", name="Submit and next").click()
    feedback = page.locator("section.feedback")
    feedback.wait_for()
    assert "Right" in feedback.inner_text() and "You are qualified" in feedback.inner_text()
    screenshot(page, f"07-{username}-qualification-feedback")

    page.get_by_role("button", name="Next task").click()
    wait_for_image(page)
    page.wait_for_function("document.querySelector('[data-testid=viewer-canvas]').dataset.frame === '1'")
    page.get_by_role("radio", name="Parasternal long axis").click()
    page.get_by_role("button", name="Mark ED").click()
    page.get_by_role("button", name="Draw contour").click()
    draw_ellipse(page, *contour)
    page.get_by_text("cm² on frame 1").wait_for()
    for _ in range(12):
        page.keyboard.press("ArrowRight")
    page.get_by_role("button", name="Mark ES").click()
    page.keyboard.press("Escape")
    for _ in range(12):
        page.keyboard.press("ArrowLeft")
    screenshot(page, f"08-{username}-labeling")
    page.get_by_role("button", name="Submit and next").click()
    page.get_by_text("No task is left for you in this stage").wait_for()


def test_admin_designs_workers_qualify_and_label_an_expert_corrects_and_the_export_holds_it(
        browser_for, people, import_folder):
    admin = browser_for("admin")
    design_the_project(admin, import_folder)

    project = Project.objects.get(slug="echo-lv")
    crowd_stage, review_stage = Stage.objects.filter(project=project).order_by("position")
    assert project.pixel_mask_rules == [{"modality": "US", "x": 0, "y": 0, "height": 62}]
    assert LabelSchema.objects.get(project=project, name="lv").definition == SCHEMA
    assert (crowd_stage.kind, crowd_stage.redundancy, crowd_stage.requires_qualification) == ("label", 2, True)
    assert (review_stage.kind, review_stage.audience) == ("review", "expert")
    assert crowd_stage.routing == [{"if": "always", "then": {"send_to": 2}}]
    assert {m.user.username: m.role for m in Membership.objects.filter(project=project)} == {
        "admin": "admin", "crowd1": "crowd", "crowd2": "crowd", "cardiologist": "expert"}
    qualification = GoldAnswer.objects.get(task__stage=crowd_stage)
    assert qualification.task.kind == "qualification"
    assert qualification.value == {"view": "PLAX", "phases": {"ED": 1, "ES": 2,
                                                              "instance": qualification.value["phases"]["instance"]}}
    item = Item.objects.get(project=project, tasks__stage=crowd_stage, tasks__kind="normal")

    for username, contour in [("crowd1", (55, 42)), ("crowd2", (60, 45))]:
        qualify_and_label(browser_for(username), username, contour=contour)
    crowd_answers = Answer.objects.filter(task__stage=crowd_stage, task__kind="normal").order_by("pk")
    assert [answer.worker.username for answer in crowd_answers] == ["crowd1", "crowd2"]
    for answer in crowd_answers:
        assert answer.value["view"] == "PLAX" and answer.value["lv"]["frame"] == 1
        assert (answer.value["phases"]["ED"], answer.value["phases"]["ES"]) == (1, 13)
    assert Task.objects.get(stage=review_stage, item=item).state == "open"  # routed to the cardiologist

    expert = browser_for("cardiologist")
    sign_in(expert, "cardiologist")
    expert.get_by_role("link", name="Review queue").click()
    wait_for_image(expert)
    answers = expert.get_by_role("region", name="Earlier answers")
    assert answers.get_by_text("W1").first.is_visible() and answers.get_by_text("W2").first.is_visible()
    assert "PLAX" in answers.inner_text() and "ED 1, ES 13" in answers.inner_text()
    screenshot(expert, "09-expert-review")
    expert.get_by_role("button", name="Correct…").click()
    expert.get_by_role("button", name="Draw contour").click()
    draw_ellipse(expert, 38, 52, dx=10)
    correction = expert.get_by_role("region", name="Correction")
    correction.get_by_text("cm² on frame 1").wait_for()
    expert.get_by_label("Note").fill("The crowd traced outside the endocardium.")
    screenshot(expert, "10-expert-correction")
    expert.get_by_role("button", name="Submit correction").click()
    expert.get_by_text("Nothing is waiting for your review").wait_for()

    review = Answer.objects.get(task__stage=review_stage)
    assert (review.worker.username, review.verdict) == ("cardiologist", "correct")
    item.refresh_from_db()
    assert item.status == "accepted" and item.result["lv"]["points"] == review.value["lv"]["points"]
    assert item.result["lv"]["points"] != crowd_answers[0].value["lv"]["points"]

    admin.get_by_role("link", name="Exports").click()
    admin.get_by_role("button", name="Build a new export").click()
    admin.get_by_role("link", name="labels.csv").wait_for(timeout=120_000)
    screenshot(admin, "11-admin-exports")
    export = Export.objects.get(project=project)
    assert (export.version, export.status, export.accepted_count) == (1, "ready", 1)
    link = admin.get_by_role("link", name="labels.csv").get_attribute("href")
    download = admin.request.get(admin.base_url + link)
    assert download.status == 200
    [row] = list(csv.DictReader(io.StringIO(download.text())))
    assert row["label.view"] == "PLAX" and row["stage_path"].endswith("Cardiologist review")
    assert json.loads(row["label.lv.points"]) == review.value["lv"]["points"]

    admin.goto(f"{admin.base_url}/app/projects/echo-lv/dashboard")
    admin.get_by_role("heading", name="Agreement: 1. Crowd: LV").wait_for()
    screenshot(admin, "12-admin-dashboard")
    for page in (admin, expert):
        assert page.errors == []
