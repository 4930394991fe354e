"""The demo project `scripts/demo` loads: real DICOM, one login per role, a working pipeline."""
from cardiocrowd.demo_project import load_demo_project
from labeling.models import Assignment, Stage, Task


def test_the_demo_has_a_pipeline_with_work_for_every_role(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        logins = load_demo_project()
        load_demo_project()  # idempotent

    crowd, review = Stage.objects.filter(project__slug="demo").order_by("position")
    assert {role for _, _, role in logins} == {"admin", "expert", "crowd"}
    assert (crowd.kind, review.kind, Stage.objects.count()) == ("label", "review", 2)
    assert Task.objects.filter(stage=crowd).count() >= 5  # every series of the demo
    assert Task.objects.filter(stage=review, state="open").count() == 1  # the crowd's disagreement
    assert Assignment.objects.filter(worker__username="crowd1", state="open").count() == 1


def _answer_every_open_task(stage, workers: dict, plan, capture) -> int:
    """Each crowd worker answers every task of `stage` it can get, with plan(item index, worker)."""
    from labeling.assignment import NoTaskAvailable, claim_next_task, submit_answer

    answered = 0
    for name, worker in workers.items():
        while True:
            with capture(execute=True):
                try:
                    assignment = claim_next_task(stage=stage, worker=worker)
                except NoTaskAvailable:
                    break
                submit_answer(assignment=assignment, value=plan(assignment.item_id, name))
            answered += 1
    return answered


def _review_everything(review, expert, capture) -> None:
    """The cardiologist keeps the crowd's view where the crowd split, calling it PLAX of good quality."""
    from labeling.assignment import NoTaskAvailable, claim_next_task, submit_answer

    while True:
        with capture(execute=True):
            try:
                assignment = claim_next_task(stage=review, worker=expert)
            except NoTaskAvailable:
                return
            submit_answer(assignment=assignment, value={"view": "PLAX", "quality": "good"}, verdict="correct")


def test_after_the_periodic_reestimation_no_exported_accepted_label_contradicts_its_soft_labels(
        db, django_capture_on_commit_callbacks, settings):
    import csv
    import io

    from django.contrib.auth import get_user_model

    from exports.models import Export
    from exports.services import request_export
    from labeling.models import ConsensusRun, Item
    from labeling.tasks import reestimate_due_stages_task

    capture = django_capture_on_commit_callbacks
    with capture(execute=True):
        load_demo_project()
    users = {user.username: user for user in get_user_model().objects.all()}
    crowd, review = Stage.objects.filter(project__slug="demo").order_by("position")
    order = list(Task.objects.filter(stage=crowd).order_by("pk").values_list("item_id", flat=True))
    views = ["PLAX", "PSAX", "A4C", "A2C"]

    def plan(item_id: int, worker: str) -> dict:
        # Mostly agreement, one item both call "fair" (the reported case), one split on the view.
        index = order.index(item_id)
        view = views[index % len(views)]
        if index == 3 and worker == "crowd2":
            view = "A3C"
        return {"view": view, "quality": "fair" if index == 2 else "good"}

    crowd_workers = {name: users[name] for name in ("crowd1", "crowd2")}
    assert _answer_every_open_task(crowd, crowd_workers, plan, capture) > 0
    _review_everything(review, users["cardiologist"], capture)
    with capture(execute=True):
        queued = reestimate_due_stages_task()  # the periodic whole-stage re-estimation (runs eagerly in tests)
    with capture(execute=True):
        export = request_export(project=crowd.project, user=users["admin"])

    export.refresh_from_db()
    run = ConsensusRun.objects.get(stage=crowd)
    assert queued == 1 and run.status == "succeeded"
    assert export.status == Export.Status.READY, export.error
    content = (settings.CARDIOCROWD_DATA_DIR / export.folder / "labels.csv").read_text()
    rows = [row for row in csv.DictReader(io.StringIO(content)) if row["status"] == "accepted"]
    assert len(rows) == Item.objects.filter(project__slug="demo", status="accepted").count() >= 3
    assert {row["label_source"] for row in rows} == {"consensus", "review"}
    for row in rows:
        for key, options in (("view", views + ["A3C", "A5C", "SC", "SSN", "OTHER"]), ("quality", ["good", "fair",
                                                                                                 "poor"])):
            assert row[f"label.{key}"], (row["item"], key)  # never blank
            if row["label_source"] != "consensus":
                continue  # an expert's correction may overrule the crowd's soft labels
            soft = {option: float(row[f"soft.{key}.p.{option}"]) for option in options}
            assert soft[row[f"label.{key}"]] == max(soft.values()) > 0, (row["item"], key, soft)
            assert row["soft_run"] == str(run.pk)
