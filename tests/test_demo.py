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
