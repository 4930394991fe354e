import pytest

from labeling.models import LabelSchema
from labeling.schema import validate_answer, validate_schema
from labeling.templates import TEMPLATES

LVEF = {"fields": [{"key": "lvef", "kind": "number", "unit": "%", "min": 5, "max": 90, "required": True}]}


@pytest.mark.parametrize("key", TEMPLATES)
def test_every_template_is_a_valid_schema_with_distinct_shortcuts(key):
    validate_schema(TEMPLATES[key]["schema"])


def test_the_view_template_accepts_a_view_answer():
    answer = validate_answer(TEMPLATES["echo-view-classification"]["schema"], {"view": "A4C", "quality": "good"})

    assert answer == {"view": "A4C", "quality": "good"}


def test_saving_a_schema_again_makes_a_new_version(api_client, admin_user, project):
    api_client.force_authenticate(admin_user)
    url = f"/api/projects/{project.slug}/schemas/"

    first = api_client.post(url, {"name": "lvef", "definition": LVEF}, format="json")
    changed = {"fields": [{**LVEF["fields"][0], "max": 85}]}
    second = api_client.post(url, {"name": "lvef", "definition": changed}, format="json")
    latest = api_client.get(url).json()
    versions = api_client.get(f"{url}lvef/versions/").json()

    assert (first.status_code, second.status_code) == (201, 201)
    assert [(s["name"], s["version"], s["created_by"]) for s in latest] == [("lvef", 2, "admin")]
    assert [v["definition"]["fields"][0]["max"] for v in versions] == [90, 85]


def test_a_schema_can_start_from_a_template(api_client, admin_user, project):
    api_client.force_authenticate(admin_user)

    response = api_client.post(f"/api/projects/{project.slug}/schemas/",
                               {"name": "views", "template": "echo-view-classification"}, format="json")

    assert response.status_code == 201
    assert response.json()["definition"] == TEMPLATES["echo-view-classification"]["schema"]


def test_a_malformed_schema_is_refused_naming_the_field(api_client, admin_user, project):
    api_client.force_authenticate(admin_user)
    bad = {"fields": [{"key": "lvef", "kind": "number", "min": 90, "max": 5}]}

    response = api_client.post(f"/api/projects/{project.slug}/schemas/", {"name": "lvef", "definition": bad},
                               format="json")

    assert response.status_code == 400
    assert response.json() == {"definition": {"lvef": ["min must be below max"]}}
    assert LabelSchema.objects.count() == 0


def test_only_admins_design_schemas_but_members_read_them(api_client, admin_user, reviewer, annotator, outsider,
                                                          project):
    url = f"/api/projects/{project.slug}/schemas/"
    codes = {}
    for user in (reviewer, annotator, outsider):
        api_client.force_authenticate(user)
        codes[user.username] = (api_client.post(url, {"name": "x", "definition": LVEF}, format="json").status_code,
                                api_client.get(url).status_code)

    assert codes == {"cardiologist": (403, 200), "crowd1": (403, 200), "outsider": (404, 404)}
    assert LabelSchema.objects.count() == 0
