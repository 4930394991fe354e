"""deploy/compose.yaml and the files it mounts: every service runs a command its image can run, the
ports agree from gunicorn to nginx, the platform starts only after its migrations, the GPU pool gets
a GPU, and no secret is written down."""
import ast
import json
import operator
import re
import subprocess

from django.urls import resolve

from .commands import parse_command
from .deployment_files import (
    DEPLOY,
    REPOSITORY,
    as_argv,
    compose,
    compose_environment,
    interpolate,
    is_secret,
    platform_services,
    read_env_file,
)

NGINX = (DEPLOY / "nginx.conf").read_text()
HEALTH_ENDPOINTS = {"healthz", "readyz"}


def services() -> dict[str, dict]:
    return compose()["services"]


def gunicorn_port() -> int:
    [parsed] = parse_command(as_argv(services()["web"]["command"]))
    [bind] = parsed.params["bind"]
    host, port = bind.rsplit(":", 1)
    assert host == "0.0.0.0", "gunicorn must listen beyond the container's loopback"
    return int(port)


def healthcheck_argv(service: dict) -> list[str]:
    test = service["healthcheck"]["test"]
    if test[0] == "CMD-SHELL":
        return ["sh", "-c", test[1].replace("$$", "$")]
    assert test[0] == "CMD"
    return test[1:]


def nginx_directive(name: str) -> list[str]:
    return re.findall(rf"^\s*{name}\s+([^;]+);", NGINX, flags=re.MULTILINE)


def nginx_location(prefix: str) -> str:
    match = re.search(rf"location\s+{re.escape(prefix)}\s*\{{(?P<body>[^}}]*)\}}", NGINX)
    assert match is not None, f"nginx.conf has no location {prefix}"
    return match["body"]


def test_every_platform_service_runs_a_command_the_image_can_run():
    parsed = {name: parse_command(as_argv(service["command"])) for name, service in platform_services().items()}

    assert {name: [(command.program, command.subcommand) for command in commands]
            for name, commands in parsed.items()} == {
        "migrate": [("manage.py", "migrate")],
        "web": [("gunicorn", "")],
        "worker": [("celery", "worker")],
        "worker-gpu": [("celery", "worker")],
        "beat": [("celery", "beat")],
    }
    assert parsed["web"][0].params["app"] == "cardiocrowd.wsgi"
    assert parsed["web"][0].params["config"] == "python:cardiocrowd.gunicorn_conf"
    assert parsed["migrate"][0].params["interactive"] is False


def test_worker_healthchecks_ping_their_own_worker():
    for name in ("worker", "worker-gpu"):
        [ping] = parse_command(healthcheck_argv(services()[name]))

        assert (ping.subcommand, ping.params["command"], ping.params["destination"]) == \
            ("inspect", "ping", ["celery@$HOSTNAME"])


def test_web_healthcheck_asks_a_health_endpoint_on_gunicorns_port():
    argv = healthcheck_argv(services()["web"])
    [url] = [word for word in argv if word.startswith("http://")]
    match = re.fullmatch(r"http://127\.0\.0\.1:(?P<port>\d+)(?P<path>/\S*)", url)

    assert argv[0] == "curl" and "-f" in "".join(word for word in argv if word.startswith("-"))
    assert int(match["port"]) == gunicorn_port()
    assert resolve(match["path"]).url_name in HEALTH_ENDPOINTS


def test_nginx_proxies_to_the_web_service_on_gunicorns_port():
    upstream_block = re.search(r"upstream cardiocrowd_web\s*\{(?P<body>[^}]*)\}", NGINX)["body"]
    [upstream] = re.findall(r"^\s*server\s+([^\s;]+)[^;]*;", upstream_block, flags=re.MULTILINE)

    assert upstream == f"web:{gunicorn_port()}"
    assert services()["web"]["expose"] == [str(gunicorn_port())]
    assert "proxy_pass http://cardiocrowd_web;" in nginx_location("/")


def test_nginx_accepts_uploads_as_large_as_the_platform_does():
    environment = compose_environment()
    nginx_environment = {name: interpolate(value, environment)
                         for name, value in services()["nginx"]["environment"].items()}

    assert nginx_directive("client_max_body_size") == ["${CARDIOCROWD_MAX_UPLOAD_BYTES}"]
    assert nginx_environment["CARDIOCROWD_MAX_UPLOAD_BYTES"] == environment["CARDIOCROWD_MAX_UPLOAD_BYTES"]
    # envsubst must replace the platform's variable and leave nginx's own ($host, $request_id…) alone.
    assert re.search(nginx_environment["NGINX_ENVSUBST_FILTER"], "CARDIOCROWD_MAX_UPLOAD_BYTES")
    assert all(re.search(nginx_environment["NGINX_ENVSUBST_FILTER"], variable) is None
               for variable in re.findall(r"\$([a-z_]+)", NGINX))


def test_nginx_gives_slow_requests_time_and_serves_static_files_itself():
    timeouts = {name: nginx_directive(name) for name in ("proxy_read_timeout", "proxy_send_timeout")}

    assert timeouts == {"proxy_read_timeout": ["600s"], "proxy_send_timeout": ["600s"]}
    assert f"alias {compose_environment()['DJANGO_STATIC_ROOT']}/;" in nginx_location("/static/")
    assert "return 404;" in nginx_location("= /metrics")


def test_the_platform_starts_after_its_migrations_and_the_migrations_after_the_database():
    dependencies = {name: service["depends_on"] for name, service in platform_services().items()}

    assert dependencies.pop("migrate") == {"postgres": {"condition": "service_healthy"}}
    assert dependencies == {name: {"migrate": {"condition": "service_completed_successfully"},
                                   "rabbitmq": {"condition": "service_healthy"}} for name in dependencies}
    assert services()["migrate"]["restart"] == "no"


def test_every_service_waited_on_for_health_has_a_healthcheck():
    waited_on = {dependency for service in services().values()
                 for dependency, condition in service.get("depends_on", {}).items()
                 if condition["condition"] == "service_healthy"}

    assert waited_on == {"postgres", "rabbitmq", "web"}
    assert all("healthcheck" in services()[name] for name in waited_on)


def test_gpu_pool_reserves_an_nvidia_gpu_on_the_gpu_image():
    gpu = services()["worker-gpu"]

    assert gpu["deploy"]["resources"]["reservations"]["devices"] == [
        {"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert gpu["build"]["args"] == {"RUNTIME": "gpu"}
    assert gpu["image"] != services()["worker"]["image"]
    assert [name for name, service in services().items() if "deploy" in service] == ["worker-gpu"]


def test_one_beat_whatever_the_pools():
    beats = [name for name, service in platform_services().items()
             if any(command.subcommand == "beat" for command in parse_command(as_argv(service["command"])))]

    assert beats == ["beat"]
    assert all(command.params.get("beat") is None for service in platform_services().values()
               for command in parse_command(as_argv(service["command"])) if command.subcommand == "worker")


def evaluate_number(node: ast.expr) -> float:
    """Numbers and + - * of numbers, as in `time_limit=6 * 3600`."""
    operations = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul}
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in operations:
        return operations[type(node.op)](evaluate_number(node.left), evaluate_number(node.right))
    raise ValueError(f"not a plain number: {ast.unparse(node)}")


def task_time_limits() -> dict[str, float]:
    limits = {}
    for module in REPOSITORY.glob("*/**/tasks.py"):
        if ".venv" in module.parts:
            continue
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.FunctionDef):
                for decorator in node.decorator_list:
                    for keyword in getattr(decorator, "keywords", []):
                        if keyword.arg == "time_limit":
                            limits[f"{module.relative_to(REPOSITORY)}:{node.name}"] = evaluate_number(keyword.value)
    return limits


def test_rabbitmq_lets_a_consumer_hold_a_message_longer_than_the_longest_task_runs():
    [timeout_ms] = re.findall(r"^consumer_timeout\s*=\s*(\d+)$", (DEPLOY / "rabbitmq.conf").read_text(), re.MULTILINE)
    limits = task_time_limits()

    assert "training/tasks.py:execute_run_task" in limits
    assert int(timeout_ms) > max(limits.values()) * 1000
    assert "./rabbitmq.conf:/etc/rabbitmq/conf.d/90-cardiocrowd.conf:ro" in services()["rabbitmq"]["volumes"]


def test_compose_writes_down_no_secret():
    required_interpolation = re.compile(r"\$\{[A-Z_]+:\?")
    literal_secrets = {(name, key): value for name, service in services().items()
                       for key, value in (service.get("environment") or {}).items()
                       if (is_secret(key) or "PASS" in key or "USERS" in key)
                       and not required_interpolation.search(value)}
    credentials_in_urls = re.findall(r"://[^\s:/@]+:[^\s@$]+@", (DEPLOY / "compose.yaml").read_text())

    assert literal_secrets == {}
    assert credentials_in_urls == []
    assert {service.get("env_file", [".env"])[0] for service in services().values()} == {".env"}


def test_the_env_file_is_never_committed():
    checked = subprocess.run(["git", "check-ignore", "deploy/.env", "deploy/imports/study.dcm"], cwd=REPOSITORY,
                             capture_output=True, text=True)

    assert checked.stdout.split() == ["deploy/.env", "deploy/imports/study.dcm"]


def test_the_example_pacs_serves_dicomweb_and_is_opt_in():
    orthanc = services()["orthanc"]
    config = json.loads((DEPLOY / "orthanc.json").read_text())

    assert orthanc["profiles"] == ["example-pacs"]
    assert orthanc["environment"]["DICOM_WEB_PLUGIN_ENABLED"] == "true"
    # DicomWeb.Host stays unset: Orthanc then writes BulkDataURIs with the caller's Host header.
    assert config["DicomWeb"] == {"Enable": True, "Root": "/dicom-web/"}
    assert config["AuthenticationEnabled"] is True
    assert orthanc["ports"] == ["127.0.0.1:8042:8042"]
    assert read_env_file(DEPLOY / ".env.example")["ORTHANC_PASSWORD"] == ""
