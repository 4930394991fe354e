"""Exports through the REST API on the real database, with items labeled through the real engine
(tests/exports/conftest.py): CSV and JSON with hard and soft labels and provenance, versions,
immutable files checked on download, and who may see what."""
import csv
import hashlib
import io
import json

from exports.models import Export, ExportFile
from exports.tables import ITEM_COLUMNS
from exports.tasks import build_export_task
from labeling.models import Consensus
from tests.conftest import ECHO_CINE
from tests.exports.conftest import SCHEMA, exports_url
from tests.factories import MembershipFactory, UserFactory


def download(api_client, user, project, version: int, name: str):
    api_client.force_authenticate(user)
    response = api_client.get(exports_url(project, version, name))
    return response, b"".join(response.streaming_content) if response.status_code == 200 else b""


def test_an_export_is_accepted_then_built_as_csv_json_seg_and_sr(api_client, labeled, admin_user, export_as):
    project, items, instances = labeled.project, labeled.items, labeled.instances

    posted = export_as(admin_user, project)
    detail = api_client.get(exports_url(project, 1))

    assert posted.status_code == 202, posted.content
    assert (posted.json()["version"], posted.json()["status"], posted.json()["files"]) == (1, "queued", [])
    body = detail.json()
    assert (body["status"], body["error"], body["requested_by"]) == ("ready", "", "admin")
    assert (body["item_count"], body["accepted_count"], body["rejected_count"]) == (3, 2, 1)
    assert {file["name"]: file["kind"] for file in body["files"]} == {
        "labels.csv": "csv", "labels.json": "json", "answers.csv": "csv", "answers.json": "json",
        f"seg-{instances['mr48'].sop_instance_uid}.dcm": "seg", f"seg-{instances['echo'].sop_instance_uid}.dcm": "seg",
        f"sr-item-{items['mr48'].pk}.dcm": "sr", f"sr-item-{items['echo'].pk}.dcm": "sr"}
    labels_json = next(file for file in body["files"] if file["name"] == "labels.json")
    assert labels_json["url"] == f"/api/projects/{project.slug}/exports/1/files/labels.json"
    assert labels_json["content_type"] == "application/json"


def test_the_json_holds_hard_and_soft_labels_and_provenance(api_client, labeled, admin_user, export_as):
    project, items = labeled.project, labeled.items
    export_as(admin_user, project)

    response, content = download(api_client, admin_user, project, 1, "labels.json")

    document = json.loads(content)
    records = {record["item"]: record for record in document["items"]}
    mr48, mr59, echo = records[items["mr48"].pk], records[items["mr59"].pk], records[items["echo"].pk]
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert {key: document[key] for key in ("format", "format_version", "project", "export_version",
                                           "requested_by")} == {
        "format": "cardiocrowd-labels", "format_version": 1, "project": project.slug, "export_version": 1,
        "requested_by": "admin"}
    assert document["schemas"] == [{"name": "lv-measures", "version": 1, "definition": SCHEMA}]
    assert list(records) == sorted(records)  # items in order
    # Hard labels: the items' results, the expert's correction for the echo; none for the rejected one.
    assert mr48["label"] == items["mr48"].result and mr48["label"]["lvef"] == 56.0
    assert echo["label"] == items["echo"].result
    assert (echo["label"]["lvef"], echo["label"]["quality"]) == (45.0, "fair")
    assert (mr59["status"], mr59["rejected"], mr59["label"]) == ("rejected", True, None)
    assert (mr48["status"], mr48["rejected"], mr48["instance_uid"]) == (
        "accepted", False, labeled.instances["mr48"].sop_instance_uid)
    # Soft labels: the crowd consensus, its shares and votes, and the share of answers per option.
    crowd_consensus = Consensus.objects.get(task__stage=labeled.crowd, task__item=items["mr48"])
    assert mr48["soft"]["method"] == crowd_consensus.method
    assert (mr48["soft"]["stage"], mr48["soft"]["answers"], mr48["soft"]["confidence"]) == ("Crowd: LV", 2, 1.0)
    assert mr48["soft"]["fields"]["lvef"] == {"value": 56.0, "share": 1.0, "votes": 2}
    assert mr48["soft"]["fields"]["quality"] == {"value": "good", "share": 1.0, "votes": 2,
                                                 "distribution": {"good": 1.0, "fair": 0.0, "poor": 0.0}}
    assert echo["soft"]["fields"]["lvef"] == {"value": 41.0, "share": 1.0, "votes": 2}  # the crowd said 40 and 42
    assert "comment" not in mr48["soft"]["fields"]  # free text is never aggregated
    # Provenance: schema, the deciding consensus, workers, reviewers and the path through the stages.
    assert mr48["provenance"] == {
        "schema": {"name": "lv-measures", "version": 1},
        "consensus": {"stage": "Crowd: LV", "method": crowd_consensus.method, "answers": 2, "confidence": 1.0},
        "workers": 2, "reviewers": [],
        "stage_path": [{"stage": "Crowd: LV", "position": 1, "kind": "label", "round": 1, "action": "accept"}]}
    assert echo["provenance"]["consensus"] == {"stage": "Cardiologist review", "method": "review_vote", "answers": 1,
                                               "confidence": 1.0}
    assert echo["provenance"]["reviewers"] == [{"username": "e1", "verdict": "correct",
                                                "stage": "Cardiologist review", "round": 1,
                                                "note": "LVEF nearer 45 %."}]
    assert mr59["provenance"]["reviewers"][0]["verdict"] == "reject"
    assert [step["stage"] for step in echo["provenance"]["stage_path"]] == ["Crowd: LV", "Cardiologist review"]
    assert echo["provenance"]["workers"] == 2


def test_the_csv_has_one_row_per_item_with_fields_flattened(api_client, labeled, admin_user, export_as):
    project, items = labeled.project, labeled.items
    export_as(admin_user, project)

    response, content = download(api_client, admin_user, project, 1, "labels.csv")

    reader = csv.DictReader(io.StringIO(content.decode()))
    rows = {int(row["item"]): row for row in reader}
    mr48, mr59, echo = rows[items["mr48"].pk], rows[items["mr59"].pk], rows[items["echo"].pk]
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    assert reader.fieldnames[:len(ITEM_COLUMNS)] == ITEM_COLUMNS
    assert reader.fieldnames[len(ITEM_COLUMNS):len(ITEM_COLUMNS) + 7] == [
        "label.lv.instance", "label.lv.frame", "label.lv.points", "label.lv.area_mm2", "label.lv.area_px",
        "soft.lv.share", "soft.lv.votes"]
    assert {key: mr48[key] for key in ("status", "rejected", "schema", "schema_version", "consensus_stage",
                                       "consensus_answers", "workers", "reviewers", "stage_path", "label.lvef",
                                       "soft.lvef.share", "soft.lvef.votes", "label.quality", "soft.quality.p.good",
                                       "soft.quality.p.poor", "label.lv.frame", "label.lv.area_px")} == {
        "status": "accepted", "rejected": "false", "schema": "lv-measures", "schema_version": "1",
        "consensus_stage": "Crowd: LV", "consensus_answers": "2", "workers": "2", "reviewers": "",
        "stage_path": "Crowd: LV", "label.lvef": "56.0", "soft.lvef.share": "1.0", "soft.lvef.votes": "2",
        "label.quality": "good", "soft.quality.p.good": "1.0", "soft.quality.p.poor": "0.0", "label.lv.frame": "1",
        "label.lv.area_px": ""}
    assert json.loads(mr48["label.lv.points"]) == items["mr48"].result["lv"]["points"]
    assert float(mr48["label.lv_diameter.length_mm"]) == items["mr48"].result["lv_diameter"]["length_mm"]
    assert (echo["reviewers"], echo["stage_path"], echo["label.lvef"], echo["label.quality"]) == (
        "e1:correct", "Crowd: LV > Cardiologist review", "45.0", "fair")
    assert json.loads(echo["label.myocardium.rle"]) == items["echo"].result["myocardium"]["rle"]
    assert echo["label.myocardium.frame"] == "30"
    assert (mr59["status"], mr59["rejected"], mr59["label.lvef"], mr59["soft.quality.p.poor"]) == (
        "rejected", "true", "", "1.0")


def test_each_export_is_a_new_version_and_its_files_never_change(api_client, labeled, admin_user, export_as, settings):
    project = labeled.project
    export_as(admin_user, project)
    first = Export.objects.get(project=project, version=1)
    on_disk = {file.name: (settings.CARDIOCROWD_DATA_DIR / first.folder / file.name) for file in first.files.all()}
    before = {name: (path.read_bytes(), path.stat().st_mtime_ns) for name, path in on_disk.items()}

    second = export_as(admin_user, project)
    build_export_task.delay(first.pk)  # a redelivered build of a ready export
    listed = api_client.get(exports_url(project))

    assert second.status_code == 202 and second.json()["version"] == 2
    assert [export["version"] for export in listed.json()] == [2, 1]
    assert [export["status"] for export in listed.json()] == ["ready", "ready"]
    assert Export.objects.get(pk=first.pk).folder == f"exports/{project.slug}/1"
    assert Export.objects.get(project=project, version=2).folder == f"exports/{project.slug}/2"
    for file in first.files.all():
        path = on_disk[file.name]
        assert (path.read_bytes(), path.stat().st_mtime_ns) == before[file.name]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == file.sha256 and path.stat().st_size == file.size
        assert path.stat().st_mode & 0o777 == 0o444
    assert sorted(ExportFile.objects.filter(export=first).values_list("name", flat=True)) == sorted(on_disk)


def test_a_download_is_checked_against_its_recorded_sha256(api_client, labeled, admin_user, export_as, settings):
    project = labeled.project
    export_as(admin_user, project)
    recorded = ExportFile.objects.get(export__project=project, name="labels.csv")
    path = settings.CARDIOCROWD_DATA_DIR / recorded.export.folder / "labels.csv"

    served, content = download(api_client, admin_user, project, 1, "labels.csv")
    path.chmod(0o644)
    path.write_bytes(content.replace(b"accepted", b"rejected"))
    tampered, tampered_content = download(api_client, admin_user, project, 1, "labels.csv")

    assert served.status_code == 200
    assert hashlib.sha256(content).hexdigest() == recorded.sha256 and served["ETag"] == f'"{recorded.sha256}"'
    assert served["Content-Disposition"] == 'attachment; filename="labels.csv"'
    assert tampered.status_code == 500 and tampered_content == b""
    assert "no longer matches its recorded size and sha256" in tampered.json()["detail"]


def test_experts_read_exports_and_crowd_workers_or_outsiders_get_nothing(api_client, labeled, admin_user, export_as,
                                                                         outsider):
    project = labeled.project
    export_as(admin_user, project)
    crowd, expert = (MembershipFactory(project=project, role=role, user=UserFactory(username=name)).user
                     for role, name in (("crowd", "crowd9"), ("expert", "expert9")))
    name = "labels.json"

    expert_file, expert_content = download(api_client, expert, project, 1, name)
    expert_list = api_client.get(exports_url(project))
    expert_post = api_client.post(exports_url(project))
    responses = {}
    for who, user in (("crowd", crowd), ("outsider", outsider)):
        api_client.force_authenticate(user)
        responses[who] = [api_client.get(exports_url(project)).status_code,
                          api_client.get(exports_url(project, 1)).status_code,
                          download(api_client, user, project, 1, name)[0].status_code,
                          api_client.post(exports_url(project)).status_code]
    api_client.force_authenticate(None)
    anonymous = api_client.get(exports_url(project, 1, name))

    assert expert_file.status_code == 200 and json.loads(expert_content)["export_version"] == 1
    assert expert_list.status_code == 200 and expert_post.status_code == 403
    assert responses == {"crowd": [403, 403, 403, 403], "outsider": [404, 404, 404, 404]}
    assert anonymous.status_code in (401, 403)
    assert Export.objects.filter(project=project).count() == 1


def test_unknown_versions_and_files_are_not_found(api_client, labeled, admin_user, export_as):
    project = labeled.project
    export_as(admin_user, project)
    api_client.force_authenticate(admin_user)

    assert api_client.get(exports_url(project, 2)).status_code == 404
    assert api_client.get(exports_url(project, 2, "labels.csv")).status_code == 404
    assert api_client.get(exports_url(project, 1, "labels.xml")).status_code == 404
    assert api_client.get(exports_url(project, 1, "..%2F..%2Fsettings.py")).status_code == 404


def test_a_download_ignores_what_the_client_accepts(api_client, labeled, admin_user, export_as):
    project = labeled.project
    export_as(admin_user, project)
    name = f"seg-{labeled.instances['mr48'].sop_instance_uid}.dcm"
    api_client.force_authenticate(admin_user)

    response = api_client.get(exports_url(project, 1, name), HTTP_ACCEPT="application/dicom")

    assert response.status_code == 200 and response["Content-Type"] == "application/dicom"
    assert b"".join(response.streaming_content)[128:132] == b"DICM"


def test_listing_exports_takes_a_fixed_number_of_queries(api_client, labeled, admin_user, export_as,
                                                         django_assert_num_queries):
    project = labeled.project
    for _ in range(3):
        export_as(admin_user, project)
    api_client.force_authenticate(admin_user)

    with django_assert_num_queries(3):  # membership, exports with requester and project, their files
        listed = api_client.get(exports_url(project))

    assert [len(export["files"]) for export in listed.json()] == [8, 8, 8]


def test_an_export_of_a_project_without_decided_items_is_empty(api_client, project, admin_user, ingest, export_as):
    ingest(project, ECHO_CINE)

    export_as(admin_user, project)
    _, content = download(api_client, admin_user, project, 1, "labels.csv")
    detail = api_client.get(exports_url(project, 1)).json()

    assert (detail["status"], detail["item_count"]) == ("ready", 0)
    assert [file["name"] for file in detail["files"]] == ["answers.csv", "labels.csv", "answers.json", "labels.json"]
    assert content.decode().splitlines() == [",".join(ITEM_COLUMNS)]
