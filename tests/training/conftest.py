import pytest

from cardiocrowd.imaging.models import Instance
from labeling.assignment import claim_next_task, submit_answer
from labeling.design import StageDesign, add_items_to_stage, append_stage, save_schema_version
from labeling.flow import aggregate_task
from labeling.models import Item, Task
from tests.conftest import SUNNYBROOK_PATIENT

SCHEMA = {"fields": [{"key": "level", "kind": "single_choice", "label": "Short-axis level", "required": True,
                      "options": [{"value": "basal"}, {"value": "mid"}]},
                     {"key": "note", "kind": "text"}]}
# Two short-axis slices of a real cine MR (Sunnybrook SCD0000101), 12 phases each: files 1–12 are the
# first slice, 21–32 the second. One item per image.
FILES = [*range(1, 13), *range(21, 33)]


@pytest.fixture
def mr_stage(project, ingest, annotator):
    """A stage with 24 real MR images as items: the first six of each slice labeled (basal / mid),
    the other twelve waiting."""
    ingest(project, *(SUNNYBROOK_PATIENT / f"{number}.dcm" for number in FILES))
    schema = save_schema_version(project=project, name="levels", definition=SCHEMA, user=None)
    stage = append_stage(project=project, schema=schema, user=None, design=StageDesign(name="Slice level",
                                                                                     redundancy=1))
    instances = list(Instance.objects.filter(project=project).order_by("instance_number"))
    items = [Item.objects.create(project=project, study=instance.series.study, series=instance.series,
                                 instance=instance) for instance in instances]
    add_items_to_stage(stage=stage, items=items)
    truth = {item.pk: "basal" if item.instance.instance_number <= 12 else "mid" for item in items}
    labeled = [item for item in items if (item.instance.instance_number - 1) % 20 % 12 < 6]
    for item in labeled:
        Task.objects.filter(stage=stage).exclude(item=item).update(priority=-1)
        Task.objects.filter(stage=stage, item=item).update(priority=10)
        assignment = claim_next_task(stage=stage, worker=annotator)
        assert assignment.item_id == item.pk
        submit_answer(assignment=assignment, value={"level": truth[item.pk]})
        aggregate_task(task_id=Task.objects.get(stage=stage, item=item).pk)
    Task.objects.filter(stage=stage, state="open").update(priority=0)
    return {"stage": stage, "items": items, "labeled": labeled, "truth": truth}
