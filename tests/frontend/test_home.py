def test_crowd_worker_signs_in_and_sees_their_projects(client, annotator, project):
    response = client.post("/accounts/login/", {"username": "crowd1", "password": "pw"})
    home = client.get("/")

    assert response.status_code == 302 and response["Location"] == "/"
    assert home.status_code == 200
    assert project.name in home.content.decode()
    assert "/imports/" not in home.content.decode()  # admin links only for admins


def test_anonymous_visitor_is_sent_to_sign_in(client, db):
    response = client.get("/")

    assert (response.status_code, response["Location"]) == (302, "/accounts/login/?next=/")
