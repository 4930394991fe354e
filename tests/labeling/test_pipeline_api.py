"""A whole pipeline through the REST API on the real database: qualification, a crowd stage
with gold mixed in and adaptive redundancy, routing, expert review, adjudication, and the
correction that becomes gold; the audit trail and what each role may see."""
import pytest

from cardiocrowd.accounts.models import Membership, Project
from cardiocrowd.imaging.models import Series
from labeling.models import Answer, Item, Task
from tests.conftest import DICOM_DATA, ECHO_CINE, SUNNYBROOK_PATIENT
from tests.factories import MembershipFactory, UserFactory

SUNNYBROOK = DICOM_DATA / "sunnybrook" / "dicoms"
FILES = {  # one series each
    "Q1": DICOM_DATA / "pydicom" / "CT_small.dcm", "Q2": DICOM_DATA / "pydicom" / "MR_small.dcm",
    "G1": SUNNYBROOK / "SCD0000201" / "100.dcm",
    "N1": SUNNYBROOK_PATIENT / "1.dcm", "N2": SUNNYBROOK / "SCD0000301" / "100.dcm", "N3": ECHO_CINE,
}
YES, NO = {"rheumatic": "yes"}, {"rheumatic": "no"}


class Client:
    """One user talking to the API. Each request's on-commit work (aggregation, routing) runs as
    the request ends, as after a real commit: tests run inside a transaction that never commits."""

    def __init__(self, api_client, user, base: str, on_commit) -> None:
        self.api, self.user, self.base, self.on_commit = api_client, user, base, on_commit

    def call(self, method: str, path: str, body=None):
        self.api.force_authenticate(self.user)
        url = path if path.startswith("/api/") else f"{self.base}{path}"
        with self.on_commit(execute=True):
            return getattr(self.api, method)(url, body, format="json")

    def next(self, stage: dict):
        return self.call("post", f"/stages/{stage['id']}/next/")

    def answer(self, task: dict, value: dict | None = None, **extra):
        return self.call("post", f"/api/assignments/{task['assignment']}/answer/", {"value": value or {}, **extra})

    def work(self, stage: dict, value: dict | None = None, **extra) -> tuple[dict, dict]:
        """Take the next task and answer it; returns (task payload, answer response body)."""
        task = self.next(stage)
        assert task.status_code == 200, task.content
        answered = self.answer(task.json(), value, **extra)
        assert answered.status_code == 201, answered.content
        return task.json(), answered.json()


@pytest.fixture
def series(project, ingest) -> dict[str, str]:
    project.burned_in_policy = Project.BurnedInPolicy.MASK
    project.pixel_mask_rules = [{"modality": "US", "height": 62, "width": 130}]
    project.save()
    uids = {}
    for name, path in FILES.items():
        known = set(Series.objects.values_list("series_uid", flat=True))
        ingest(project, path)
        [uids[name]] = set(Series.objects.values_list("series_uid", flat=True)) - known
    return uids


def people(project, api_client, base: str, admin_user, on_commit) -> dict[str, Client]:
    roles = {"w1": "crowd", "w2": "crowd", "w3": "crowd", "w4": "crowd", "w5": "crowd", "w6": "crowd",
             "e1": "expert", "e2": "expert", "s1": "expert"}
    clients = {"admin": Client(api_client, admin_user, base, on_commit)}
    for name, role in roles.items():
        membership = MembershipFactory(project=project, role=role, user=UserFactory(username=name),
                                       senior=name == "s1")
        clients[name] = Client(api_client, membership.user, base, on_commit)
    return clients


@pytest.fixture
def design(api_client, project, admin_user, series, django_capture_on_commit_callbacks):
    base = f"/api/projects/{project.slug}"
    who = people(project, api_client, base, admin_user, django_capture_on_commit_callbacks)
    admin = who["admin"]
    assert admin.call("post", "/schemas/", {"name": "rheumatic", "template": "rheumatic-mitral-valve"}).status_code \
        == 201
    crowd = admin.call("post", "/stages/", {
        "name": "Crowd: rheumatic MV?", "schema": "rheumatic", "redundancy": 2, "max_redundancy": 3,
        "confidence_target": 0.9, "gold_rate_min": 1.0, "gold_rate_max": 1.0, "requires_qualification": True}).json()
    review = admin.call("post", "/stages/", {
        "name": "Cardiologist review", "kind": "review", "audience": "expert", "redundancy": 2}).json()
    adjudication = admin.call("post", "/stages/", {
        "name": "Senior adjudication", "kind": "adjudication", "audience": "expert", "redundancy": 1}).json()
    for stage, rules in [(crowd, [{"if": {"confidence_below": 0.9}, "then": {"send_to": 2}},
                                  {"if": {"skipped_as": ["poor image quality"]}, "then": {"send_to": 2}}]),
                         (review, [{"if": {"confidence_below": 1.0}, "then": {"send_to": 3}}])]:
        assert admin.call("put", f"/stages/{stage['id']}/routing/", {"routing": rules}).status_code == 200
    settings = admin.call("patch", "/settings/", {"instructions": "# Rheumatic MV\nLook for *doming*.",
                                                  "qualification_pass_mark": 0.5, "reliability_threshold": 0.6,
                                                  "min_gold_for_blocking": 3})
    assert settings.status_code == 200, settings.content
    for name, value, purpose in [("Q1", YES, "qualification"), ("Q2", NO, "qualification"), ("G1", YES, "gold")]:
        made = admin.call("post", f"/stages/{crowd['id']}/gold/", {
            "series_uid": series[name], "value": value, "purpose": purpose,
            "explanation": f"{name}: the anterior leaflet {'domes' if value == YES else 'is thin and mobile'}."})
        assert made.status_code == 201, made.content
    queued = admin.call("post", f"/stages/{crowd['id']}/items/", {"series_uids": [series[n] for n in ("N1", "N2",
                                                                                                       "N3")]})
    assert queued.json() == {"queued": 3}
    return {"who": who, "crowd": crowd, "review": review, "adjudication": adjudication, "series": series}


def qualify(worker: Client, stage: dict, answers: list[dict]) -> list[dict]:
    return [worker.work(stage, value)[1]["feedback"] for value in answers]


def item_of(series_uid: str) -> Item:
    return Item.objects.get(series__series_uid=series_uid)


def test_a_full_pipeline_from_qualification_to_adjudication(design):
    who, crowd, review, adjudication = design["who"], design["crowd"], design["review"], design["adjudication"]
    series = design["series"]
    # Qualification: feedback on every answer; w4 gets both wrong and is stopped, w3 just passes.
    feedback = qualify(who["w1"], crowd, [YES, NO])
    qualify(who["w2"], crowd, [YES, NO])
    qualify(who["w5"], crowd, [YES, NO])
    w3_feedback = qualify(who["w3"], crowd, [YES, YES])
    w4_feedback = qualify(who["w4"], crowd, [NO, YES])
    # Gold comes first (rate 1.0) and looks like any task (the same payload); its feedback comes after the answer.
    gold_tasks = {name: who[name].work(crowd, YES if name != "w3" else NO) for name in ("w1", "w2", "w5", "w3")}
    # Normal items. N1: both yes → accepted. N2: split → a third answer → still unsure → review.
    # N3: one skip as poor image → review.
    n1, _ = who["w1"].work(crowd, YES)
    who["w1"].work(crowd, YES)
    who["w1"].work(crowd, NO)
    who["w2"].work(crowd, YES)
    who["w2"].work(crowd, NO)
    third, _ = who["w5"].work(crowd, YES)
    who["w2"].work(crowd, skip_reason="poor image quality")
    # Review: two cardiologists per item; they disagree on N2 (→ adjudication), both reject N3.
    e1_task, _ = who["e1"].work(review, verdict="accept")
    who["e2"].work(review, NO, verdict="correct", note="Thin leaflets, no doming.")
    who["e1"].work(review, verdict="reject", note="The mitral valve is not in view.")
    who["e2"].work(review, verdict="reject")
    refused_adjudication = who["e1"].next(adjudication)
    s1_task, _ = who["s1"].work(adjudication, NO, verdict="correct", note="No rheumatic changes.")
    # A new worker later meets the corrected item as gold.
    qualify(who["w6"], crowd, [YES, NO])
    w6_gold = [who["w6"].work(crowd, NO)[0] for _ in range(2)]
    w6_done = who["w6"].next(crowd)

    assert [f["correct"] for f in feedback] == [True, True]
    assert feedback[0]["explanation"] == "Q1: the anterior leaflet domes."
    assert feedback[1]["fields"]["rheumatic"] == {"correct": True, "expected": "no", "given": "no"}
    assert feedback[1]["qualification"] == {"status": "passed", "answered": 2, "right": 2, "of": 2}
    assert [f["correct"] for f in w3_feedback] == [True, False] and w3_feedback[1]["qualification"]["status"] == \
        "passed"
    assert w4_feedback[1]["qualification"]["status"] == "failed"
    for name, (task, answer) in gold_tasks.items():
        assert set(task) == set(n1)
        assert answer["feedback"]["kind"] == "gold" and answer["feedback"]["correct"] == (name != "w3")
        assert answer["feedback"]["explanation"] == "G1: the anterior leaflet domes."
        assert "qualification" not in answer["feedback"]
    assert n1["stage"]["kind"] == "label" and "review" not in n1

    # Adaptive redundancy gave N2 a third answer; results and routing per item.
    n2, n3 = item_of(series["N2"]), item_of(series["N3"])
    assert third["assignment"] and Task.objects.get(stage_id=crowd["id"], item=n2).target_answers == 3
    assert (item_of(series["N1"]).status, item_of(series["N1"]).result) == ("accepted", YES)
    assert (n2.status, n2.result) == ("accepted", NO)
    assert (n3.status, n3.result) == ("rejected", None)

    # Experts saw every crowd answer and the consensus; the adjudicator saw both levels.
    [crowd_level] = e1_task["review"]
    assert [a["value"] for a in crowd_level["answers"]] == [YES, NO, YES]
    assert crowd_level["consensus"]["confidence"] == 0.6667 and e1_task["schema"]["name"] == "rheumatic"
    assert [level["stage"]["kind"] for level in s1_task["review"]] == ["review", "label"]
    assert [a["verdict"] for a in s1_task["review"][0]["answers"]] == ["accept", "correct"]
    assert refused_adjudication.status_code == 403

    # The adjudicated correction became gold: w6 got it, and w1 and w5, who said yes, were scored.
    n2_crowd_task = Task.objects.get(stage_id=crowd["id"], item=n2)
    assert n2_crowd_task.kind == "gold" and n2_crowd_task.gold.source == "review"
    assert [t["assignment"] for t in w6_gold] and w6_done.status_code == 204
    assert Answer.objects.get(task=n2_crowd_task, worker__username="w1").gold_score["correct"] is False

    # Blocked workers are told why, and the admin sees it.
    admin = who["admin"]
    standing = {(row["worker"], row["stage"]): row for row in admin.call("get", "/workers/").json()}
    assert "reliability 0.40 on 3 gold answers" in standing[("w3", crowd["id"])]["blocked_reason"]
    assert "qualification: 0 of 2 right" in standing[("w4", crowd["id"])]["blocked_reason"]
    w3_next = who["w3"].next(crowd)
    assert w3_next.status_code == 403 and "reliability" in w3_next.json()["detail"]
    assert who["w4"].next(crowd).status_code == 403

    # Audit trail: design, answers' routing, reviews, gold, qualification and blocks, with who and which schema.
    events = admin.call("get", "/audit/?limit=1000").json()
    actions = {event["action"] for event in events}
    assert {"schema.saved", "stage.added", "settings.changed", "gold.saved", "qualification.decided",
            "worker.blocked", "review.submitted", "routing.decided", "redundancy.raised"} <= actions
    review_event = next(e for e in events if e["action"] == "review.submitted")
    assert review_event["actor"] in {"e1", "e2", "s1"} and (review_event["schema"], review_event["schema_version"]) == \
        ("rheumatic", 1)
    # Inter-observer agreement of the crowd stage: crowd consensus vs each expert, expert vs expert.
    agreement = who["e1"].call("get", f"/stages/{crowd['id']}/agreement/").json()  # crowd on N2 ties: no item
    rheumatic = agreement["fields"]["rheumatic"]
    assert rheumatic["kind"] == "categorical" and agreement["items"] == 6
    assert "value" in rheumatic["fleiss_kappa"] and "value" in rheumatic["krippendorff_alpha"]
    pairs = {(row["first"], row["second"]): row for row in rheumatic["crowd_vs_expert"]}
    experts = pairs.get(("e1", "e2")) or pairs[("e2", "e1")]  # they disagreed on N2
    assert experts["items"] == 1 and experts["figures"]["percent_agreement"] == 0.0
    assert {("crowd", "e1"), ("crowd", "s1")} <= set(pairs)
    assert who["w1"].call("get", f"/stages/{crowd['id']}/agreement/").status_code == 404
    assert who["e1"].call("get", f"/stages/{review['id']}/agreement/").status_code == 400
    history = who["e1"].call("get", f"/items/{n2.pk}/").json()
    assert [stage["stage"]["kind"] for stage in history["stages"]] == ["label", "review", "adjudication"]
    assert [r["action"] for r in history["stages"][0]["routing"]] == ["send"]
    assert history["stages"][2]["answers"][0]["worker"] == "s1"


def test_crowd_workers_see_neither_gold_nor_answers_nor_consensus(design):
    w1, admin = design["who"]["w1"], design["who"]["admin"]
    item = item_of(design["series"]["N1"])

    assert w1.call("get", f"/stages/{design['crowd']['id']}/gold/").status_code == 403
    assert w1.call("get", f"/items/{item.pk}/").status_code == 404
    assert w1.call("get", f"/stages/{design['review']['id']}/queue/").status_code == 404
    assert w1.call("get", "/workers/").status_code == 403
    assert w1.call("get", "/audit/").status_code == 403
    assert w1.next(design["review"]).status_code == 403
    assert w1.call("patch", "/settings/", {"instructions": "x"}).status_code == 403
    assert w1.call("get", "/settings/").json()["instructions"].startswith("# Rheumatic MV")
    assert admin.call("get", f"/stages/{design['crowd']['id']}/gold/").json()[0]["purpose"] == "qualification"


def test_a_worker_sees_their_own_standing(design):
    w1 = design["who"]["w1"]
    before = w1.call("get", f"/stages/{design['crowd']['id']}/me/").json()
    qualify(w1, design["crowd"], [YES, NO])
    after = w1.call("get", f"/stages/{design['crowd']['id']}/me/").json()

    assert (before["qualification"], before["qualification_items"]) == ("not_started", 2)
    assert (after["qualification"], after["qualification_correct"], after["blocked_reason"]) == ("passed", 2, "")


def test_an_admin_unblocks_a_worker_who_failed_the_qualification(design):
    w4, admin, crowd = design["who"]["w4"], design["who"]["admin"], design["crowd"]
    qualify(w4, crowd, [NO, YES])

    unblocked = admin.call("post", f"/stages/{crowd['id']}/workers/w4/unblock/", {"pass_qualification": True})

    assert unblocked.status_code == 200 and unblocked.json()["blocked_reason"] == ""
    assert w4.next(crowd).status_code == 200


def test_gold_that_does_not_fit_the_schema_is_refused(design):
    admin, crowd = design["who"]["admin"], design["crowd"]

    wrong_value = admin.call("post", f"/stages/{crowd['id']}/gold/",
                             {"series_uid": design["series"]["N1"], "value": {"rheumatic": "perhaps"}})
    unknown = admin.call("post", f"/stages/{crowd['id']}/gold/", {"series_uid": "2.25.404", "value": YES})
    on_review = admin.call("post", f"/stages/{design['review']['id']}/gold/",
                           {"series_uid": design["series"]["N1"], "value": YES})

    assert wrong_value.status_code == 400 and "rheumatic" in wrong_value.json()["value"]
    assert unknown.status_code == 400 and "series_uid" in unknown.json()
    assert on_review.status_code == 400 and "stage" in on_review.json()
    assert Task.objects.filter(stage_id=crowd["id"], kind="gold").count() == 1


def test_a_rejected_review_sends_the_item_back_to_fresh_crowd_workers(api_client, project, admin_user, series,
                                                                     django_capture_on_commit_callbacks):
    base = f"/api/projects/{project.slug}"
    who = people(project, api_client, base, admin_user, django_capture_on_commit_callbacks)
    admin = who["admin"]
    admin.call("post", "/schemas/", {"name": "rheumatic", "template": "rheumatic-mitral-valve"})
    crowd = admin.call("post", "/stages/", {"name": "Crowd", "schema": "rheumatic", "redundancy": 1}).json()
    review = admin.call("post", "/stages/", {
        "name": "Review", "kind": "review", "audience": "expert", "redundancy": 1,
        "routing": [{"if": {"field": "_verdict", "in": ["reject"]}, "then": {"send_to": 1}}]}).json()
    admin.call("put", f"/stages/{crowd['id']}/routing/", {"routing": [{"if": "always", "then": {"send_to": 2}}]})
    admin.call("post", f"/stages/{crowd['id']}/items/", {"series_uids": [series["N1"]]})

    who["w1"].work(crowd, YES)
    who["e1"].work(review, verdict="reject", note="Traced on the wrong valve.")
    w1_again = who["w1"].next(crowd)
    who["w2"].work(crowd, NO)
    second_review, _ = who["e1"].work(review, verdict="accept")

    item = item_of(series["N1"])
    task = Task.objects.get(stage_id=crowd["id"], item=item)
    assert w1_again.status_code == 204  # fresh eyes: w1 answered the first round
    assert task.round == 2 and task.routing_decisions.count() == 2
    assert second_review["review"][0]["answers"][0]["value"] == NO  # the expert sees the new round only
    assert (item.status, item.result) == ("accepted", NO)
    review_task = Task.objects.get(stage_id=review["id"], item=item)
    assert [d.action for d in review_task.routing_decisions.order_by("round")] == ["send_back", "accept"]


def test_a_whole_pipeline_from_a_template(api_client, project, admin_user, django_capture_on_commit_callbacks):
    admin = Client(api_client, admin_user, f"/api/projects/{project.slug}", django_capture_on_commit_callbacks)

    built = admin.call("post", "/pipeline/", {"template": "rheumatic-mv-screening"})
    again = admin.call("post", "/pipeline/", {"template": "rheumatic-mv-screening"})
    unknown = admin.call("post", "/pipeline/", {"template": "nope"})

    assert built.status_code == 201, built.content
    assert [(s["kind"], s["audience"]) for s in built.json()] == [("label", "crowd"), ("review", "expert"),
                                                                   ("adjudication", "expert")]
    assert built.json()[0]["routing"][0] == {"if": {"confidence_below": 0.8}, "then": {"send_to": 2}}
    assert again.status_code == 400 and unknown.status_code == 400
    templates = admin.call("get", "/api/pipeline-templates/").json()
    assert {t["key"] for t in templates} == {"rheumatic-mv-screening", "a4c-lv-contours"}


def test_instruction_images_are_checked_and_served_to_members(api_client, project, admin_user, annotator, outsider):
    from io import BytesIO

    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    png = BytesIO()
    Image.new("RGB", (8, 8), "red").save(png, "PNG")
    url = f"/api/projects/{project.slug}/instructions/images/"
    api_client.force_authenticate(admin_user)
    uploaded = api_client.post(url, {"image": SimpleUploadedFile("a4c.png", png.getvalue()), "caption": "A4C"},
                               format="multipart")
    not_image = api_client.post(url, {"image": SimpleUploadedFile("notes.png", b"not an image")}, format="multipart")
    api_client.force_authenticate(annotator)
    listed = api_client.get(url)
    fetched = api_client.get(uploaded.json()["url"])
    crowd_upload = api_client.post(url, {"image": SimpleUploadedFile("a.png", png.getvalue())}, format="multipart")
    api_client.force_authenticate(outsider)
    outside = api_client.get(uploaded.json()["url"])

    assert uploaded.status_code == 201, uploaded.content
    assert not_image.status_code == 400 and "not a PNG or JPEG" in not_image.json()["image"][0]
    assert listed.json()[0]["caption"] == "A4C"
    assert fetched.status_code == 200 and fetched["Content-Type"] == "image/png" and fetched.content == png.getvalue()
    assert crowd_upload.status_code == 403 and outside.status_code == 404


def test_only_an_expert_can_be_senior(project, admin_user):
    from cardiocrowd.accounts.services import set_membership

    crowd = set_membership(project=project, user=UserFactory(), role=Membership.Role.CROWD, senior=True)

    assert crowd.senior is False


def test_an_admin_tunes_a_stage_but_not_its_kind_or_schema(design):
    admin, w1, crowd = design["who"]["admin"], design["who"]["w1"], design["crowd"]

    tuned = admin.call("patch", f"/stages/{crowd['id']}/", {"redundancy": 4, "gold_rate_max": 0.3,
                                                              "gold_rate_min": 0.1})
    fixed = admin.call("patch", f"/stages/{crowd['id']}/", {"schema": "other"})
    inconsistent = admin.call("patch", f"/stages/{crowd['id']}/", {"gold_rate_min": 0.5})
    by_crowd = w1.call("patch", f"/stages/{crowd['id']}/", {"redundancy": 1})

    assert tuned.status_code == 200
    assert (tuned.json()["redundancy"], tuned.json()["max_redundancy"], tuned.json()["gold_rate_max"]) == (4, 4, 0.3)
    assert fixed.status_code == 400 and "cannot change" in str(fixed.json())
    assert inconsistent.status_code == 400 and "gold_rate_min" in inconsistent.json()
    assert by_crowd.status_code == 403
    event = next(e for e in admin.call("get", "/audit/?action=stage.tuned").json())
    assert event["detail"]["changed"]["redundancy"] == [2, 4] and event["actor"] == "admin"


@pytest.mark.parametrize("query", ["limit=-1", "limit=0", "limit=99999999999999999999999", "action=%00",
                                   "item=99999999999999999999999", "before=x"])
def test_a_malformed_audit_query_is_a_400_naming_the_problem(api_client, project, admin_user, query):
    api_client.force_authenticate(admin_user)

    response = api_client.get(f"/api/projects/{project.slug}/audit/?{query}")

    assert response.status_code == 400
    assert "NUL" in str(response.json()) or "limit" in str(response.json())
