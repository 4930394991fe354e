"""The training API: admins design and run models, experts read them, crowd workers see nothing."""
import io

import pytest
import torch

from training import learning
from training.models import ModelVersion, TrainingRun


@pytest.fixture
def base(mr_stage):
    return f"/api/projects/{mr_stage['stage'].project.slug}"


def create(api_client, base, stage, **fields):
    return api_client.post(f"{base}/models/", {"stage": stage.pk, "field": "level", "size": 32, "epochs": 2,
                                              "train_layers": "all", **fields}, format="json")


def test_an_admin_creates_a_model_runs_it_and_reads_its_version_and_predictions(
        api_client, admin_user, reviewer, mr_stage, base, django_capture_on_commit_callbacks):
    api_client.force_authenticate(admin_user)
    created = create(api_client, base, mr_stage["stage"], strategy="margin", batch_size=4)
    with django_capture_on_commit_callbacks(execute=True):
        started = api_client.post(f"{base}/models/{created.json()['id']}/runs/", {"kind": "train"}, format="json")
    api_client.force_authenticate(reviewer)
    run = api_client.get(f"{base}/training-runs/{started.json()['id']}/").json()
    model = api_client.get(f"{base}/models/{created.json()['id']}/").json()
    predictions = api_client.get(f"{base}/models/{created.json()['id']}/predictions/").json()

    assert created.status_code == 201
    assert (created.json()["task"], created.json()["labels"], created.json()["strategy"]) == (
        "classification", ["basal", "mid"], "margin")
    assert started.status_code == 202 and started.json()["status"] == "queued"
    assert (run["status"], run["version"], run["labels_used"]) == ("succeeded", 1, 12)
    assert [version["number"] for version in model["versions"]] == [1]
    assert len(predictions) == 12 and predictions[0]["uncertainty"] >= predictions[-1]["uncertainty"]


def test_crowd_workers_and_outsiders_cannot_see_or_touch_models(api_client, annotator, outsider, admin_user,
                                                               mr_stage, base):
    api_client.force_authenticate(admin_user)
    model_id = create(api_client, base, mr_stage["stage"]).json()["id"]

    api_client.force_authenticate(annotator)
    crowd = [api_client.get(f"{base}/models/").status_code, api_client.get(f"{base}/models/{model_id}/").status_code,
             api_client.post(f"{base}/models/{model_id}/runs/", {}, format="json").status_code,
             create(api_client, base, mr_stage["stage"]).status_code]
    api_client.force_authenticate(outsider)
    outside = api_client.get(f"{base}/models/").status_code

    assert crowd == [404, 404, 403, 403] and outside == 404
    assert not TrainingRun.objects.exists()


@pytest.mark.parametrize(("fields", "problem"), [
    ({"field": "note"}, "field"), ({"field": "level", "strategy": "pixel_entropy"}, "strategy"),
])
def test_a_model_that_does_not_fit_the_schema_is_refused(api_client, admin_user, mr_stage, base, fields, problem):
    api_client.force_authenticate(admin_user)

    response = create(api_client, base, mr_stage["stage"], **fields)

    assert response.status_code == 400 and problem in response.json()


def test_an_uploaded_checkpoint_becomes_the_starting_point_and_garbage_is_refused(api_client, admin_user, mr_stage,
                                                                                  base):
    api_client.force_authenticate(admin_user)
    model_id = create(api_client, base, mr_stage["stage"]).json()["id"]
    weights = io.BytesIO()
    torch.save({"state_dict": learning.build_network(learning.NetworkSpec(classes=5, size=32)).state_dict()}, weights)
    weights.seek(0)
    weights.name = "model.pt"

    uploaded = api_client.post(f"{base}/models/{model_id}/checkpoint/", {"file": weights}, format="multipart")
    garbage = api_client.post(f"{base}/models/{model_id}/checkpoint/",
                              {"file": io.BytesIO(b"not weights")}, format="multipart")

    assert uploaded.status_code == 201
    version = ModelVersion.objects.get(spec_id=model_id)
    assert version.kind == "upload" and version.metrics["source"] == "model.pt" and version.metrics["tensors_taken"] > 0
    assert garbage.status_code == 400 and "not a PyTorch state dict" in garbage.json()["file"][0]
    assert ModelVersion.objects.filter(spec_id=model_id).count() == 1
