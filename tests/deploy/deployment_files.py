"""Reading the deployment artifacts (deploy/) the way their tools do, for the tests beside this file.

The list of environment variables is never written down here: it is read from the settings module
(and gunicorn's config), so a variable added there and forgotten in a manifest fails a test that names it.
"""
from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path
from types import ModuleType

import yaml

REPOSITORY = Path(__file__).resolve().parents[2]
DEPLOY = REPOSITORY / "deploy"
K8S = DEPLOY / "k8s"
OVERLAYS = sorted(path.name for path in (K8S / "overlays").iterdir() if (path / "kustomization.yaml").exists())
# The modules whose environment reads make up the platform's configuration.
CONFIGURATION_MODULES = (REPOSITORY / "cardiocrowd" / "settings.py", REPOSITORY / "cardiocrowd" / "gunicorn_conf.py")
# Names that hold credentials, or URLs that carry them.
SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|ACCESS_KEY|DATABASE_URL|BROKER_URL|RESULT_BACKEND")


def is_secret(name: str) -> bool:
    return bool(SECRET_NAME.search(name))


# --- the settings' environment variables ----------------------------------------------------------------

class ComputedVariableName(Exception):
    """A configuration module reads a variable whose name is not a literal: no manifest can be checked."""


def _is_os_environ(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "environ" and \
        isinstance(node.value, ast.Name) and node.value.id == "os"


def _reads_environment(function: ast.expr) -> bool:
    """env_*(…), os.environ.get(…) or os.getenv(…)."""
    if isinstance(function, ast.Name):
        return function.id.startswith("env_")
    if not isinstance(function, ast.Attribute):
        return False
    is_os = isinstance(function.value, ast.Name) and function.value.id == "os"
    return (function.attr == "get" and _is_os_environ(function.value)) or (function.attr == "getenv" and is_os)


def _environment_reads(tree: ast.AST) -> list[ast.expr]:
    """The name argument of every read: env_*(NAME, …), os.environ.get(NAME), os.getenv(NAME),
    os.environ[NAME] and NAME in os.environ."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and _reads_environment(node.func):
            names.append(node.args[0])
        elif isinstance(node, ast.Subscript) and _is_os_environ(node.value) and isinstance(node.ctx, ast.Load):
            names.append(node.slice)
        elif isinstance(node, ast.Compare) and any(isinstance(op, ast.In) for op in node.ops) and \
                any(_is_os_environ(comparator) for comparator in node.comparators):
            names.append(node.left)
    return names


def _helper_parameters(tree: ast.AST) -> set[str]:
    """The parameter names of the env_* helpers themselves (their body reads os.environ.get(name))."""
    return {argument.arg for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef) and node.name.startswith("env_") for argument in node.args.args}


def variables_read_by(module: Path) -> set[str]:
    tree = ast.parse(module.read_text(), filename=str(module))
    helper_parameters = _helper_parameters(tree)
    variables = set()
    for name in _environment_reads(tree):
        if isinstance(name, ast.Constant) and isinstance(name.value, str):
            variables.add(name.value)
        elif not (isinstance(name, ast.Name) and name.id in helper_parameters):
            raise ComputedVariableName(f"{module.name}:{name.lineno} reads an environment "
                                       f"variable named by `{ast.unparse(name)}`: use a literal name")
    return variables


@cache
def settings_variables() -> frozenset[str]:
    """Every environment variable the platform's configuration reads."""
    return frozenset().union(*(variables_read_by(module) for module in CONFIGURATION_MODULES))


# --- env files ---------------------------------------------------------------------------------------

ENV_LINE = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>.*)")


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines, # comments and blank lines: the format compose's env_file and kustomize's
    generators share. Any other line is an error."""
    values = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = ENV_LINE.fullmatch(line)
        if match is None:
            raise ValueError(f"{path}:{number}: not a KEY=VALUE line: {line!r}")
        if match["name"] in values:
            raise ValueError(f"{path}:{number}: {match['name']} is set twice")
        values[match["name"]] = match["value"]
    return values


INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<rest>[^}]*)\}")


def interpolate(value: str, variables: dict[str, str]) -> str:
    """${NAME}, ${NAME:-default}, ${NAME:?message} as compose expands them ($$ is a literal $)."""
    def replace(match: re.Match) -> str:
        name, rest = match["name"], match["rest"]
        if variables.get(name):
            return variables[name]
        if rest.startswith(":?"):
            raise KeyError(f"{name} is required: {rest[2:]}")
        return rest[2:] if rest.startswith(":-") else ""
    return INTERPOLATION.sub(replace, value.replace("$$", "\0")).replace("\0", "$")


# --- compose ---------------------------------------------------------------------------------------

ENV_EXAMPLE = DEPLOY / ".env.example"


def compose_environment() -> dict[str, str]:
    """deploy/.env as an operator makes it from the example: secrets filled in, ${...} expanded."""
    filled = with_secrets_filled_in(read_env_file(ENV_EXAMPLE))
    return {name: interpolate(value, filled) for name, value in filled.items()}


@cache
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def platform_services() -> dict[str, dict]:
    """The compose services that run the platform's own image (built from deploy/Dockerfile's app stage)."""
    return {name: service for name, service in compose()["services"].items()
            if service.get("build", {}).get("target") == "app"}


def as_argv(command: str | list[str]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else list(command)


# --- Kubernetes ------------------------------------------------------------------------------------

def kustomization(folder: Path) -> dict:
    return yaml.safe_load((folder / "kustomization.yaml").read_text())


def load_yaml_documents(path: Path) -> list[dict]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def load_generator() -> ModuleType:
    """deploy/k8s/generate.py as a module (deploy/ is no package)."""
    spec = importlib.util.spec_from_file_location("k8s_generate", K8S / "generate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        raise RuntimeError("kubectl is needed to build the Kustomize overlays (its `kubectl kustomize`; it is on "
                           "the project's machine image, from Debian's kubectl package)")
    return path


@cache
def built_overlay(overlay: str) -> tuple[dict, ...]:
    """`kubectl kustomize` of an overlay, on a copy of deploy/k8s where each overlay's secrets.env (never
    committed) is secrets.env.example: the objects `kubectl apply -k` would send."""
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "k8s"
        shutil.copytree(K8S, copy, ignore=shutil.ignore_patterns("secrets.env", "__pycache__"))
        for name in OVERLAYS:
            shutil.copy(copy / "secrets.env.example", copy / "overlays" / name / "secrets.env")
        result = subprocess.run([kubectl(), "kustomize", str(copy / "overlays" / overlay)],
                                capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise AssertionError(f"kubectl kustomize overlays/{overlay} failed:\n{result.stderr}")
    return tuple(document for document in yaml.safe_load_all(result.stdout) if document)


def objects_of_kind(objects: tuple[dict, ...], kind: str) -> dict[str, dict]:
    return {item["metadata"]["name"]: item for item in objects if item["kind"] == kind}


def pod_templates(objects: tuple[dict, ...]) -> dict[str, dict]:
    """Deployment or Job name → its pod spec."""
    return {item["metadata"]["name"]: item["spec"]["template"]["spec"]
            for item in objects if item["kind"] in {"Deployment", "Job"}}


def generated_name(objects: tuple[dict, ...], kind: str, base_name: str) -> str:
    """The name kustomize gave a generated ConfigMap or Secret (base name plus a content hash)."""
    names = [name for name in objects_of_kind(objects, kind) if re.fullmatch(rf"{base_name}-[a-z0-9]{{10}}", name)]
    assert len(names) == 1, f"expected one generated {kind} {base_name}, found {names}"
    return names[0]


# --- the settings as a deployment loads them -----------------------------------------------------------

SETTINGS_SUMMARY = """
import json
from django.conf import settings
import django
django.setup()
routes = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
print(json.dumps({
    "debug": settings.DEBUG,
    "routed_queues": sorted(routes | {settings.CELERY_TASK_DEFAULT_QUEUE}
                            | ({settings.CONSENSUS_GPU_QUEUE} if settings.CONSENSUS_GPU_QUEUE else set())),
    "training_queue": settings.TRAINING_QUEUE,
    "max_upload_bytes": settings.CARDIOCROWD_MAX_UPLOAD_BYTES,
    "static_root": str(settings.STATIC_ROOT),
    "data_dir": str(settings.CARDIOCROWD_DATA_DIR),
}))
"""

# Stand-ins for the secrets an operator fills in, shaped like the real thing.
SECRET_STAND_INS = {
    "DATABASE_URL": "postgres://cardiocrowd:stand-in@db.example.org:5432/cardiocrowd",
    "CELERY_BROKER_URL": "amqp://cardiocrowd:stand-in@broker.example.org:5672//",
}


def with_secrets_filled_in(variables: dict[str, str]) -> dict[str, str]:
    return {name: (value or SECRET_STAND_INS.get(name, f"stand-in-{name.lower()}")) if is_secret(name) else value
            for name, value in variables.items()}


def load_settings(variables: dict[str, str]) -> dict:
    """Start Django with exactly these variables (and nothing else of ours) and report the settings a
    deployment depends on. Loading, not connecting: no database or broker is reached."""
    return _load_settings(tuple(sorted(variables.items())))


@cache
def _load_settings(variables: tuple[tuple[str, str], ...]) -> dict:
    clean = {key: value for key, value in os.environ.items()
             if key in {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH"}}
    result = subprocess.run([sys.executable, "-c", SETTINGS_SUMMARY], cwd=REPOSITORY, capture_output=True, text=True,
                            env={**clean, **dict(variables), "DJANGO_SETTINGS_MODULE": "cardiocrowd.settings"},
                            timeout=120)
    if result.returncode != 0:
        raise AssertionError(f"the settings do not load with this environment:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])
