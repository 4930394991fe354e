def test_openapi_schema_is_served_to_members_only(api_client, annotator):
    anonymous = api_client.get("/api/schema/")
    api_client.force_authenticate(annotator)

    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/json")

    assert anonymous.status_code == 401
    assert schema.status_code == 200
    assert "/api/projects/{slug}/imports/upload/" in schema.json()["paths"]


def test_token_is_issued_for_valid_credentials_only(api_client, annotator):
    good = api_client.post("/api/auth/token/", {"username": "crowd1", "password": "pw"})
    bad = api_client.post("/api/auth/token/", {"username": "crowd1", "password": "nope"})

    assert good.status_code == 200 and len(good.json()["token"]) == 40
    assert bad.status_code == 400


def test_members_see_their_role_and_admins_manage_members(api_client, admin_user, annotator, outsider, project):
    api_client.force_authenticate(admin_user)
    added = api_client.post(f"/api/projects/{project.slug}/members/", {"username": "outsider", "role": "expert"})
    api_client.force_authenticate(annotator)
    mine = api_client.get("/api/projects/").json()
    refused = api_client.post(f"/api/projects/{project.slug}/members/", {"username": "crowd1", "role": "admin"})

    assert added.json()["role"] == "expert"
    assert [(p["slug"], p["role"]) for p in mine] == [("echo-study", "crowd")]
    assert refused.status_code == 403
    assert project.memberships.get(user=annotator).role == "crowd"


def test_only_platform_staff_create_projects(api_client, admin_user, annotator):
    api_client.force_authenticate(annotator)
    refused = api_client.post("/api/projects/", {"slug": "new", "name": "New"})
    api_client.force_authenticate(admin_user)
    created = api_client.post("/api/projects/", {"slug": "new", "name": "New"})

    assert refused.status_code == 403
    assert created.status_code == 201 and created.json()["role"] == "admin"


def test_source_mapping_is_for_admins_only(api_client, admin_user, reviewer, annotator, project):
    codes = {}
    for user in (admin_user, reviewer, annotator):
        api_client.force_authenticate(user)
        codes[user.username] = api_client.get(f"/api/projects/{project.slug}/source-mappings/").status_code

    assert codes == {"admin": 200, "cardiologist": 403, "crowd1": 403}


def test_a_token_opens_the_api_until_its_user_is_deactivated(api_client, annotator):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=annotator)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    works = api_client.get("/api/me/")
    annotator.is_active = False
    annotator.save(update_fields=["is_active"])
    inactive = api_client.get("/api/me/")
    api_client.credentials(HTTP_AUTHORIZATION="Token 0000000000000000000000000000000000000000")
    unknown = api_client.get("/api/me/")

    assert works.status_code == 200 and works.json()["username"] == "crowd1"
    assert inactive.status_code == 401 and "inactive" in inactive.json()["detail"]
    assert unknown.status_code == 401 and unknown["WWW-Authenticate"] == "Token"
