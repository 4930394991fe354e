import socket

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cardiocrowd.imaging.models import Study
from labeling.design import add_items_to_stage
from labeling.models import Item
from tests.conftest import new_stage

VIEW = {"view": "A4C", "quality": "good"}


def free_port() -> int:
    """A port nothing listens on (bound for a moment by us, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def metric_value(exposition: str, sample: str, **labels: str) -> float | None:
    """The value of one sample (`cardiocrowd_tasks_served_total{kind="normal"}`) in a scrape, None if absent."""
    for family in text_string_to_metric_families(exposition):
        for found in family.samples:
            if found.name == sample and all(found.labels.get(key) == value for key, value in labels.items()):
                return found.value
    return None


@pytest.fixture
def open_stage(project):
    """A crowd stage of redundancy 1 with `count` items queued (the items need no images to be served)."""
    def make(count: int = 1):
        study = Study.objects.create(project=project, study_uid="2.25.4242", patient_pseudonym="CCOPS")
        stage = new_stage(project, redundancy=1)
        items = [Item.objects.create(project=project, study=study) for _ in range(count)]
        add_items_to_stage(stage=stage, items=items)
        return stage
    return make
