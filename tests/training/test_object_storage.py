"""Training with S3-compatible object storage (a real Ceph RADOS Gateway): a model learns from the
images in the bucket, its checkpoint is stored there, a rescore reloads it, and weights that no
longer match their recorded sha256 are refused."""
import hashlib

import pytest

from training import services
from training.models import ModelVersion, Prediction, TrainingRun

pytestmark = pytest.mark.object_storage


def run_now(spec, django_capture_on_commit_callbacks, **options) -> TrainingRun:
    with django_capture_on_commit_callbacks(execute=True):
        run = services.request_run(spec=spec, **options)
    run.refresh_from_db()
    return run


def test_a_checkpoint_is_stored_in_the_bucket_reloaded_by_a_rescore_and_refused_once_changed(
        request, use_object_storage, object_gateway, admin_user, django_capture_on_commit_callbacks, settings):
    bucket = use_object_storage()
    mr_stage = request.getfixturevalue("mr_stage")  # its images ingested into the bucket
    spec = services.create_spec(stage=mr_stage["stage"], field="level", user=admin_user, size=32, epochs=3,
                                strategy="entropy", batch_size=3, train_layers="head")
    client = object_gateway.client()

    trained = run_now(spec, django_capture_on_commit_callbacks)
    version = ModelVersion.objects.get(spec=spec)
    stored = client.get_object(Bucket=bucket, Key=version.artifact)["Body"].read()
    Prediction.objects.filter(version=version).delete()
    rescored = run_now(spec, django_capture_on_commit_callbacks, kind=TrainingRun.Kind.SCORE)
    predictions = Prediction.objects.filter(version=version).count()
    client.put_object(Bucket=bucket, Key=version.artifact, Body=stored[:-1] + bytes([stored[-1] ^ 1]))
    refused = run_now(spec, django_capture_on_commit_callbacks, kind=TrainingRun.Kind.SCORE)

    assert trained.status == "succeeded" and version.artifact == f"models/{spec.project.slug}/{spec.pk}/v1.pt"
    assert (len(stored), hashlib.sha256(stored).hexdigest()) == (version.size, version.sha256)
    assert (rescored.status, rescored.version_id, predictions) == ("succeeded", version.pk, 12)
    assert refused.status == "failed" and "no longer match their recorded size and sha256" in refused.error
    assert not (settings.CARDIOCROWD_DATA_DIR / "models").exists()
    assert not (settings.CARDIOCROWD_DATA_DIR / "dicom").exists()
