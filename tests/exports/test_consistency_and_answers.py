"""An export checks its own labels before publishing (a contradiction or a blank accepted label
fails the build, names the items and publishes nothing), takes its soft labels from the consensus
its hard labels came from, and carries what a data scientist needs to aggregate again and link to
outcomes: every worker's answer by pseudonym with their learned reliability, the consensus run
behind each label, and study and patient pseudonyms — never a source identifier."""
import csv
import io
import json

import pydicom
from django.contrib.auth import get_user_model

from cardiocrowd.imaging.models import SourceMapping, Study
from exports.models import Export, ExportFile
from exports.selectors import worker_pseudonym
from labeling.estimation import reestimate_stage
from labeling.models import AuditEvent, Consensus, ConsensusRun, Task, WorkerEstimate
from tests.conftest import ECHO_CINE, SUNNYBROOK_PATIENT
from tests.exports.conftest import exports_url


def export_file(settings, export: Export, name: str) -> bytes:
    return (settings.CARDIOCROWD_DATA_DIR / export.folder / name).read_bytes()


def rows(content: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(content.decode())))


def set_crowd_quality(labeled, name: str, *, consensus: dict, result: str | None) -> None:
    """The crowd task's consensus of `quality` and the item's result, as a consensus run would leave them."""
    task = Task.objects.get(stage=labeled.crowd, item=labeled.items[name])
    row = Consensus.objects.get(task=task)
    row.fields = {**row.fields, "quality": consensus}
    row.save(update_fields=["fields"])
    item = labeled.items[name]
    item.result = {key: value for key, value in item.result.items() if key != "quality"}
    if result is not None:
        item.result["quality"] = result
    item.save(update_fields=["result"])


def test_soft_labels_are_the_posterior_of_the_consensus_the_hard_label_came_from(labeled, admin_user, export_as,
                                                                                 settings):
    # Both workers called MR 48 "good"; a Dawid-Skene run, knowing their confusion, made it "fair".
    run = ConsensusRun.objects.create(stage=labeled.crowd, method="dawid_skene", status="succeeded")
    set_crowd_quality(labeled, "mr48", result="fair", consensus={
        "value": "fair", "share": 0.4, "votes": 2, "calibrated": None, "method": "dawid_skene", "run": run.pk,
        "posterior": {"good": 0.35, "fair": 0.4, "poor": 0.25}})

    export_as(admin_user, labeled.project)

    export = Export.objects.get(project=labeled.project, version=1)
    assert export.status == "ready", export.error
    [mr48] = [row for row in rows(export_file(settings, export, "labels.csv"))
              if row["item"] == str(labeled.items["mr48"].pk)]
    assert {key: mr48[key] for key in ("label.quality", "soft.quality.share", "soft.quality.p.good",
                                       "soft.quality.p.fair", "soft.quality.p.poor", "label_source", "soft_run",
                                       "soft_run_method")} == {
        "label.quality": "fair", "soft.quality.share": "0.4", "soft.quality.p.good": "0.35",
        "soft.quality.p.fair": "0.4", "soft.quality.p.poor": "0.25", "label_source": "consensus",
        "soft_run": str(run.pk), "soft_run_method": "dawid_skene"}
    document = json.loads(export_file(settings, export, "labels.json"))
    [record] = [record for record in document["items"] if record["item"] == labeled.items["mr48"].pk]
    assert record["soft"]["fields"]["quality"] == {
        "value": "fair", "share": 0.4, "votes": 2, "calibrated": None, "method": "dawid_skene", "run": run.pk,
        "distribution": {"good": 0.35, "fair": 0.4, "poor": 0.25}}
    assert record["soft"]["run"] == {"id": run.pk, "method": "dawid_skene", "started_at": run.started_at.isoformat(),
                                     "finished_at": None}


def test_a_hard_label_contradicting_its_soft_labels_fails_the_build_and_publishes_nothing(
        api_client, labeled, admin_user, export_as, settings):
    # The reported bug: hard "good" at 0.40 beside p(fair) = 1.0 in the same row.
    set_crowd_quality(labeled, "mr48", result="good", consensus={
        "value": "good", "share": 0.4, "votes": 2, "posterior": {"good": 0.0, "fair": 1.0, "poor": 0.0}})

    export_as(admin_user, labeled.project)

    export = Export.objects.get(project=labeled.project, version=1)
    detail = api_client.get(exports_url(labeled.project, 1)).json()
    item = labeled.items["mr48"].pk
    assert (export.status, detail["status"], detail["files"]) == ("failed", "failed", [])
    assert export.error == (f"inconsistent labels, nothing published (1 item): item {item}, field quality: the hard "
                            "label is not the argmax of its soft labels (hard label 'good'; p(good)=0.0, "
                            "p(fair)=1.0, p(poor)=0.0)")
    assert detail["error"] == export.error
    assert ExportFile.objects.filter(export=export).count() == 0
    assert list((settings.CARDIOCROWD_DATA_DIR / "exports" / labeled.project.slug).iterdir()) == []
    assert AuditEvent.objects.get(action="export.failed").detail["reason"] == export.error


def test_an_accepted_item_with_a_tied_consensus_fails_the_build(labeled, admin_user, export_as, settings):
    set_crowd_quality(labeled, "mr48", result=None, consensus={"value": None, "share": 0.5, "votes": 2})

    export_as(admin_user, labeled.project)

    export = Export.objects.get(project=labeled.project, version=1)
    assert (export.status, export.error) == ("failed", (
        f"inconsistent labels, nothing published (1 item): item {labeled.items['mr48'].pk}, field quality: an "
        "accepted label is blank (a tie: the consensus has no value)"))
    assert list((settings.CARDIOCROWD_DATA_DIR / "exports" / labeled.project.slug).iterdir()) == []


def test_the_answers_table_has_every_answer_by_pseudonym_with_the_workers_learned_reliability(
        labeled, admin_user, export_as, settings):
    run = reestimate_stage(stage_id=labeled.crowd.pk)

    export_as(admin_user, labeled.project)

    export = Export.objects.get(project=labeled.project, version=1)
    assert export.status == "ready", export.error
    answers = rows(export_file(settings, export, "answers.csv"))
    secret = labeled.project.pseudonym_secret
    workers = {user.username: user for user in get_user_model().objects.filter(username__in=["w1", "w2"])}
    pseudonyms = {worker_pseudonym(secret, user.pk): name for name, user in workers.items()}
    by_item = {pk: name for name, pk in ((name, item.pk) for name, item in labeled.items.items())}
    assert len(answers) == 6 and {row["worker"] for row in answers} == set(pseudonyms)
    assert all(row["worker"].startswith("W") and len(row["worker"]) == 17 for row in answers)
    for row in answers:
        name, worker = by_item[int(row["item"])], pseudonyms[row["worker"]]
        given = labeled.answers[name][worker]
        estimate = WorkerEstimate.objects.get(stage=labeled.crowd, worker=workers[worker], field="quality")
        lvef = WorkerEstimate.objects.get(stage=labeled.crowd, worker=workers[worker], field="lvef")
        assert {key: row[key] for key in ("stage", "stage_position", "round", "skip_reason", "schema",
                                          "answer.quality", "answer.lvef")} == {
            "stage": "Crowd: LV", "stage_position": "1", "round": "1", "skip_reason": "", "schema": "lv-measures",
            "answer.quality": given["quality"], "answer.lvef": str(given["lvef"])}
        assert json.loads(row["answer.lv.points"]) == given["lv"]["points"]
        assert float(row["reliability.quality"]) == estimate.reliability
        assert (float(row["bias.lvef"]), float(row["noise.lvef"])) == (lvef.learned["bias"], lvef.learned["noise"])
        assert row["created_at"]
    document = json.loads(export_file(settings, export, "answers.json"))
    assert document["format"] == "cardiocrowd-answers" and len(document["answers"]) == 6
    assert document["answers"][0]["estimates"]["quality"]["run"] == run.pk
    # A re-estimated export is still consistent, and says which run set each label.
    labels = rows(export_file(settings, export, "labels.csv"))
    accepted = [row for row in labels if row["status"] == "accepted" and row["label_source"] == "consensus"]
    assert accepted and all(row["soft_run"] == str(run.pk) for row in accepted)


def source_identifiers(labeled) -> set[str]:
    found = set()
    for path in (SUNNYBROOK_PATIENT / "48.dcm", SUNNYBROOK_PATIENT / "59.dcm", ECHO_CINE):
        source = pydicom.dcmread(path, stop_before_pixels=True)
        found |= {str(source.get(keyword, "")) for keyword in ("PatientID", "PatientName", "StudyInstanceUID",
                                                               "SeriesInstanceUID", "SOPInstanceUID")}
    found |= set(SourceMapping.objects.filter(project=labeled.project).values_list("source_value", flat=True))
    return {value for value in found if value}


def test_no_source_identifier_appears_anywhere_in_the_export(labeled, admin_user, export_as, settings):
    export_as(admin_user, labeled.project)

    export = Export.objects.get(project=labeled.project, version=1)
    assert export.status == "ready", export.error
    identifiers = source_identifiers(labeled)
    files = {file.name: export_file(settings, export, file.name) for file in export.files.all()}
    assert len(identifiers) >= 8 and len(files) == 8
    for name, content in files.items():
        # Long identifiers (UIDs, the Sunnybrook ID) nowhere in the bytes; short ones (the echo's
        # "204", "PLA") in no cell, no JSON string and no identifying DICOM attribute.
        for identifier in identifiers:
            if len(identifier) >= 8:
                assert identifier.encode() not in content, (name, identifier)
        if name.endswith(".csv"):
            cells = {cell for row in csv.reader(io.StringIO(content.decode())) for cell in row}
            assert not cells & identifiers, name
        elif name.endswith(".json"):
            assert not set(_strings(json.loads(content))) & identifiers, name
        else:
            dataset = pydicom.dcmread(io.BytesIO(content), stop_before_pixels=True)
            assert not {str(dataset.get(keyword, "")) for keyword in ("PatientID", "PatientName", "StudyInstanceUID",
                                                                      "OtherPatientIDs")} & identifiers, name
    labels = rows(files["labels.csv"])
    studies = {study.study_uid: study.patient_pseudonym for study in Study.objects.filter(project=labeled.project)}
    assert {(row["study_uid"], row["patient_pseudonym"]) for row in labels} == set(studies.items())
    assert all(pseudonym.startswith("CC") for pseudonym in studies.values())


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, inner in value.items():
            yield key
            yield from _strings(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _strings(inner)
