"""An admin adds a model in the Models tab and trains it on real MR images; its version, figures and
what it wants labeled next show, the dashboard draws its learning curve, and a crowd worker on a stage
that shows pre-labels starts from the model's answer, which the stored answer records."""
from __future__ import annotations

import pytest

from labeling.models import Answer, Assignment, Task
from labeling.quality import make_gold
from tests.conftest import wait_until
from tests.e2e.conftest import screenshot, sign_in
from tests.training.conftest import mr_stage  # noqa: F401 (the fixture: 24 real MR images, 12 labeled)
from training import data as training_data
from training.models import ModelSpec, Prediction


@pytest.fixture
def with_expert_labels(mr_stage, monkeypatch):  # noqa: F811
    """Gold answers for half the waiting items, so a share can be held out to measure the model."""
    waiting = [item for item in mr_stage["items"] if item not in mr_stage["labeled"]]
    for item in waiting[::2]:
        make_gold(task=Task.objects.get(stage=mr_stage["stage"], item=item),
                  value={"level": mr_stage["truth"][item.pk]}, explanation="", source="admin", by_id=None)
    # The split hashes item ids, so whether any of six falls in it depends on the ids this database hands
    # out: hold out two of them (training runs in this process, the live server's).
    held_out = {item.pk for item in waiting[:4:2]}
    monkeypatch.setattr(training_data, "in_validation", lambda item_id: item_id in held_out)
    assert any(training_data.in_validation(item.pk) for item in waiting[::2])
    return mr_stage


def test_an_admin_trains_a_model_and_a_worker_starts_from_its_pre_label(browser_for, with_expert_labels, admin_user,
                                                                       other_annotator):
    stage = with_expert_labels["stage"]
    slug = stage.project.slug
    page = browser_for("admin")
    sign_in(page, "admin")
    page.goto(f"{page.base_url}/app/projects/{slug}/design/models")
    page.wait_for_selector("text=No model yet: add one below.")
    page.get_by_label("Field").select_option("level")
    page.get_by_label("Input size (pixels)").fill("32")
    page.get_by_label("Epochs").fill("30")
    page.get_by_label("Layers trained").select_option("all")
    page.get_by_role("button", name="Add model").click()
    page.wait_for_selector("text=/Added .*Train it now/")
    spec = ModelSpec.objects.get(stage=stage)
    assert (spec.field, spec.task, spec.epochs, spec.train_layers) == ("level", "classification", 30, "all")

    page.get_by_role("button", name=f"Train now {spec.name}").click()
    page.wait_for_selector("text=/In force: version 1, trained on/", timeout=120_000)
    version = spec.versions.get(number=1)
    held_out = version.metrics["n"]
    assert held_out > 0
    page.wait_for_selector(f"text=/accuracy [0-9.]+.* on {held_out} held-out expert labels?/")
    assert Prediction.objects.filter(version=version).count() > 0
    top = Task.objects.filter(stage=stage, state="open", kind="normal").order_by("-priority").first()
    first = Prediction.objects.get(version=version, item_id=top.item_id)  # the batch's first pick
    next_section = page.locator("section", has=page.get_by_role("heading", name="What the model wants labeled next"))
    assert next_section.locator("tbody tr").count() > 0
    screenshot(page, "models-tab")

    page.goto(f"{page.base_url}/app/projects/{slug}/dashboard")
    curve = page.get_by_role(
        "img", name=f"Learning curve of {spec.name}: validation accuracy against consensus labels used")
    curve.wait_for()
    curves = page.locator("section[aria-labelledby=dashboard-model]")
    assert curves.locator("table tbody tr").count() == 1  # the chart's data: one version
    curve.scroll_into_view_if_needed()
    screenshot(page, "dashboard-learning-curve")
    assert page.errors == []

    stage.show_prelabels = True
    stage.save(update_fields=["show_prelabels"])
    worker = browser_for("crowd2")
    sign_in(worker, "crowd2")
    worker.goto(f"{worker.base_url}/app/projects/{slug}/stages/{stage.pk}/work")
    worker.wait_for_selector("[data-testid=viewer-canvas][data-ready=true]")
    worker.wait_for_selector("text=Started from the model's suggestion: check it and change what is wrong.")
    served = Assignment.objects.filter(worker=other_annotator).order_by("pk").first().task.item_id
    assert served == first.item_id  # the model's first pick is served first
    assert worker.get_by_role("radio", name=first.value).is_checked()
    screenshot(worker, "labeling-prelabel")
    worker.get_by_role("button", name="Submit and next").click()
    wait_until(lambda: Answer.objects.filter(worker=other_annotator).exists(), 30, "the answer being stored")

    answer = Answer.objects.get(worker=other_annotator, task__item_id=served)
    assert answer.value["level"] == first.value
    assert answer.prelabel == {"level": first.value}
    assert worker.errors == []
