"""The shell page of the browser app: sign-in, who is signed in, and the built assets."""
import json
import re

from frontend.templatetags.vite import load_manifest


def bootstrap_of(response) -> dict:
    found = re.search(r'<script id="cardiocrowd-bootstrap" type="application/json">(.*?)</script>',
                      response.content.decode(), re.S)
    return json.loads(found.group(1))


def test_crowd_worker_signs_in_and_gets_the_app_with_their_projects(client, annotator, project):
    response = client.post("/accounts/login/", {"username": "crowd1", "password": "pw"})
    home = client.get("/")
    app = client.get("/app/")

    assert response.status_code == 302 and response["Location"] == "/app/"
    assert (home.status_code, home["Location"]) == (302, "/app/")
    assert app.status_code == 200
    assert bootstrap_of(app)["projects"] == [{"slug": project.slug, "name": project.name, "role": "crowd",
                                             "senior": False}]
    assert bootstrap_of(app)["user"] == {"username": "crowd1", "is_staff": False}


def test_every_screen_of_the_app_is_the_same_shell_with_the_built_assets(client, annotator, project):
    client.force_login(annotator)

    page = client.get(f"/app/projects/{project.slug}/stages/1/work").content.decode()

    entry = load_manifest()["src/main.tsx"]
    assert f'<script type="module" src="/static/frontend/{entry["file"]}"></script>' in page
    for css in entry.get("css", []):
        assert f'href="/static/frontend/{css}"' in page


def test_anonymous_visitor_is_sent_to_sign_in(client, db):
    response = client.get("/app/")

    assert (response.status_code, response["Location"]) == (302, "/accounts/login/?next=/app/")
