"""Every environment variable the platform reads reaches it in each deployment — the list comes from
the settings module itself — and with that environment the settings load and every queue a task can
be routed to has a worker pool."""
import pytest

from .commands import parse_command
from .deployment_files import (
    ENV_EXAMPLE,
    K8S,
    OVERLAYS,
    ComputedVariableName,
    as_argv,
    built_overlay,
    compose,
    compose_environment,
    generated_name,
    interpolate,
    is_secret,
    load_settings,
    objects_of_kind,
    platform_services,
    pod_templates,
    read_env_file,
    settings_variables,
    variables_read_by,
    with_secrets_filled_in,
)

# Read by compose.yaml itself (images, ports, the bundled servers' passwords), not by the platform's
# settings; ORTHANC_PASSWORD is also the example DICOMweb source's secret_env.
COMPOSE_ONLY = {"POSTGRES_PASSWORD", "RABBITMQ_PASSWORD", "ORTHANC_PASSWORD", "CARDIOCROWD_IMAGE", "CARDIOCROWD_TAG",
                "HTTP_PORT", "IMPORTS_DIR"}


def kubernetes_environment(overlay: str) -> dict[str, str]:
    objects = built_overlay(overlay)
    config = objects_of_kind(objects, "ConfigMap")[generated_name(objects, "ConfigMap", "cardiocrowd-config")]
    secret = objects_of_kind(objects, "Secret")[generated_name(objects, "Secret", "cardiocrowd-secrets")]
    return with_secrets_filled_in({**config.get("data", {}), **{name: "" for name in secret.get("data", {})}})


def consumed_queues(commands: dict[str, list[str]]) -> dict[str, set[str]]:
    """Worker pool → the queues its `celery worker --queues` consumes."""
    pools = {}
    for name, argv in commands.items():
        for parsed in parse_command(argv):
            if parsed.subcommand == "worker":
                pools[name] = set(parsed.params["queues"] or [])
    return pools


def compose_worker_commands() -> dict[str, list[str]]:
    return {name: as_argv(service["command"]) for name, service in platform_services().items()}


def kubernetes_worker_commands(overlay: str) -> dict[str, list[str]]:
    return {name: spec["containers"][0]["command"] for name, spec in pod_templates(built_overlay(overlay)).items()}


def gpu_pools_in_compose() -> set[str]:
    def devices(service: dict) -> list[dict]:
        return service.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices", [])

    return {name for name, service in platform_services().items()
            if any(device.get("driver") == "nvidia" for device in devices(service))}


def gpu_pools_in_kubernetes(overlay: str) -> set[str]:
    return {name for name, spec in pod_templates(built_overlay(overlay)).items()
            if "nvidia.com/gpu" in spec["containers"][0].get("resources", {}).get("limits", {})}


def test_the_configuration_modules_name_every_variable_they_read():
    variables = settings_variables()

    assert {"DJANGO_SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "TRAINING_QUEUE", "WEB_PROCESSES",
            "WEB_THREADS"} <= variables


def test_a_computed_variable_name_is_refused(tmp_path):
    module = tmp_path / "settings.py"
    module.write_text("import os\nPREFIX = 'AWS_'\nBUCKET = os.environ.get(PREFIX + 'BUCKET')\n")

    with pytest.raises(ComputedVariableName, match=r"PREFIX \+ 'BUCKET'"):
        variables_read_by(module)


def test_every_form_of_reading_the_environment_is_found(tmp_path):
    module = tmp_path / "settings.py"
    module.write_text(
        "import os\n"
        "def env_str(name, default=None):\n    return os.environ.get(name) or default\n"
        "A = env_str('A_VARIABLE')\nB = os.environ.get('B_VARIABLE')\nC = os.getenv('C_VARIABLE')\n"
        "D = os.environ['D_VARIABLE']\nE = 'E_VARIABLE' in os.environ\nF = env_float('F_VARIABLE', 1.0)\n")

    assert variables_read_by(module) == {"A_VARIABLE", "B_VARIABLE", "C_VARIABLE", "D_VARIABLE", "E_VARIABLE",
                                         "F_VARIABLE"}


def test_env_example_lists_every_variable_the_settings_read():
    missing = settings_variables() - read_env_file(ENV_EXAMPLE).keys()

    assert not missing, f"deploy/.env.example lacks {sorted(missing)}: add each with a comment"


def test_env_example_lists_no_variable_that_nothing_reads():
    unread = read_env_file(ENV_EXAMPLE).keys() - settings_variables() - COMPOSE_ONLY

    assert not unread, f"deploy/.env.example sets {sorted(unread)}, which no setting reads"


def test_env_example_carries_no_secret_value():
    filled = {name: value for name, value in read_env_file(ENV_EXAMPLE).items()
              if is_secret(name) and value and "${" not in value}

    assert filled == {}


def test_compose_passes_the_env_file_to_every_platform_service_and_sets_no_setting_itself():
    services = platform_services()

    assert set(services) == {"migrate", "web", "worker", "worker-gpu", "beat"}
    assert {name: service.get("env_file") for name, service in services.items()} == \
        {name: [".env"] for name in services}
    assert {name: service.get("environment") for name, service in services.items()} == {name: None for name in services}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kubernetes_config_map_and_secret_hold_every_variable_the_settings_read(overlay):
    objects = built_overlay(overlay)
    config = objects_of_kind(objects, "ConfigMap")[generated_name(objects, "ConfigMap", "cardiocrowd-config")]
    secret = objects_of_kind(objects, "Secret")[generated_name(objects, "Secret", "cardiocrowd-secrets")]
    config_keys, secret_keys = set(config.get("data", {})), set(secret.get("data", {}))

    assert not settings_variables() - config_keys - secret_keys, \
        f"overlays/{overlay} lacks {sorted(settings_variables() - config_keys - secret_keys)}: add them to " \
        "deploy/k8s/base/config.env, or to deploy/k8s/secrets.env.example if secret"
    unread = (config_keys | secret_keys) - settings_variables()
    assert not unread, f"overlays/{overlay} sets {sorted(unread)}, which no setting reads"
    assert sorted(name for name in config_keys if is_secret(name)) == [], "secrets in the ConfigMap"
    assert sorted(name for name in secret_keys if not is_secret(name)) == [], "plain settings in the Secret"


def test_the_settings_load_with_the_compose_environment():
    settings = load_settings(compose_environment())

    assert settings["debug"] is False
    assert settings["static_root"] == compose_environment()["DJANGO_STATIC_ROOT"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_settings_load_with_the_kubernetes_environment(overlay):
    settings = load_settings(kubernetes_environment(overlay))

    assert settings["debug"] is False
    assert settings["data_dir"] == kubernetes_environment(overlay)["CARDIOCROWD_DATA_DIR"]


def test_compose_worker_pools_consume_exactly_the_queues_tasks_are_routed_to():
    settings = load_settings(compose_environment())
    pools = consumed_queues(compose_worker_commands())

    assert set().union(*pools.values()) == set(settings["routed_queues"])
    assert {name for name, queues in pools.items() if settings["training_queue"] in queues} == gpu_pools_in_compose()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kubernetes_worker_pools_consume_exactly_the_queues_tasks_are_routed_to(overlay):
    settings = load_settings(kubernetes_environment(overlay))
    pools = consumed_queues(kubernetes_worker_commands(overlay))

    assert set().union(*pools.values()) == set(settings["routed_queues"])
    assert {name for name, queues in pools.items() if settings["training_queue"] in queues} == \
        gpu_pools_in_kubernetes(overlay)


def test_the_secrets_example_names_only_secrets_and_sets_none():
    secrets = read_env_file(K8S / "secrets.env.example")

    assert {name: value for name, value in secrets.items() if value} == {}
    assert sorted(name for name in secrets if not is_secret(name)) == []


def strings_in(value: object) -> list[str]:
    if isinstance(value, dict):
        return [text for item in value.values() for text in strings_in(item)]
    if isinstance(value, list):
        return [text for item in value for text in strings_in(item)]
    return [value] if isinstance(value, str) else []


def test_compose_finds_every_variable_it_interpolates_in_the_env_file():
    variables = compose_environment()

    expanded = [interpolate(text, variables) for text in strings_in(compose())]  # a missing ${X:?} raises

    assert [text for text in expanded if "${" in text] == []
