"""deploy/Dockerfile, read the way BuildKit reads it: the stages compose and the docs name exist,
every file it copies is in the build context, and its paths agree with the settings, nginx and the
Kubernetes pods. (No container engine runs here: the image itself is not built by the tests.)"""
import json
import re
import subprocess
import sys
import tomllib

from packaging.specifiers import SpecifierSet

from .commands import parse_command
from .deployment_files import DEPLOY, K8S, REPOSITORY, compose, load_generator, read_env_file

DOCKERFILE = DEPLOY / "Dockerfile"
IGNORE_FILE = DEPLOY / "Dockerfile.dockerignore"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", "\n".join(line for line in DOCKERFILE.read_text().splitlines()
                                         if not line.lstrip().startswith("#")))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip() if " " in line.strip() else "")
            for line in text.splitlines() if line.strip()]


def global_arguments() -> dict[str, str]:
    arguments = {}
    for instruction, rest in instructions():
        if instruction == "FROM":
            break
        if instruction == "ARG":
            name, _, default = rest.partition("=")
            arguments[name] = default
    return arguments


def stages() -> list[dict]:
    """Each stage: its base, its name and its instructions."""
    found = []
    for instruction, rest in instructions():
        if instruction == "FROM":
            words = rest.split()
            found.append({"base": words[0], "name": words[2] if len(words) == 3 and words[1].upper() == "AS" else None,
                          "instructions": []})
        elif found:
            found[-1]["instructions"].append((instruction, rest))
    return found


def stage(name: str) -> dict:
    [found] = [item for item in stages() if item["name"] == name]
    return found


def environment_of(stage_: dict) -> dict[str, str]:
    values = {}
    for instruction, rest in stage_["instructions"]:
        if instruction == "ENV":
            values.update(re.findall(r"(\w+)=(\S+)", rest))
    return values


def ignore_patterns() -> list[str]:
    return [line.strip() for line in IGNORE_FILE.read_text().splitlines() if line.strip() and not line.startswith("#")]


def pattern_regex(pattern: str) -> re.Pattern:
    """A .dockerignore pattern (Go's filepath.Match plus `**` for any number of folders) as a regex."""
    parts, index = [], 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            parts.append("(?:.*/)?")
            index += 3
        elif pattern.startswith("**", index):
            parts.append(".*")
            index += 2
        else:
            parts.append({"*": "[^/]*", "?": "[^/]"}.get(pattern[index], re.escape(pattern[index])))
            index += 1
    return re.compile("".join(parts))


def is_ignored(path: str) -> bool:
    """Whether BuildKit leaves the path out of the context: a pattern matches it or a folder above it."""
    prefixes = ["/".join(path.split("/")[:length]) for length in range(1, path.count("/") + 2)]
    return any(pattern_regex(pattern.strip("/")).fullmatch(prefix)
               for pattern in ignore_patterns() for prefix in prefixes)


def test_the_stages_compose_builds_exist_and_the_default_is_the_platform():
    names = [item["name"] for item in stages()]
    targets = {service["build"]["target"] for service in compose()["services"].values() if "build" in service}

    assert names == ["frontend", "base-cpu", "base-gpu", "app", "proxy", None]
    assert targets == {"app", "proxy"}
    assert stages()[-1]["base"] == "app"


def test_the_runtime_argument_picks_a_base_stage_for_cpu_and_for_gpu():
    runtimes = {"cpu", *(service["build"].get("args", {}).get("RUNTIME", "cpu")
                         for service in compose()["services"].values() if "build" in service)}

    assert global_arguments()["RUNTIME"] == "cpu"
    assert stage("app")["base"] == "base-${RUNTIME}"
    assert {f"base-{runtime}" for runtime in runtimes} == {"base-cpu", "base-gpu"}
    assert environment_of(stage("base-cpu"))["TORCH_INDEX_URL"].endswith("/whl/cpu")


def test_copies_from_stages_name_earlier_stages_and_other_copies_files_of_the_context():
    earlier, missing, ignored = set(), [], []
    for item in stages():
        for instruction, rest in item["instructions"]:
            if instruction != "COPY":
                continue
            words = rest.split()
            sources = [word for word in words[:-1] if not word.startswith("--")]
            origin = [word.split("=", 1)[1] for word in words if word.startswith("--from=")]
            if origin:
                assert origin[0] in earlier, f"COPY --from={origin[0]} before that stage"
                continue
            missing += [source for source in sources if source != "." and not (REPOSITORY / source).exists()]
            ignored += [source for source in sources if source != "." and is_ignored(source.rstrip("/"))]
        earlier.add(item["name"])

    assert missing == []
    assert ignored == []


def test_the_build_context_leaves_out_secrets_and_local_state():
    for path in ("deploy/.env", "deploy/k8s/overlays/production/secrets.env", ".venv", "frontend/node_modules",
                 ".git", ".demo", "frontend/static/frontend"):
        assert is_ignored(path), path
    assert not is_ignored("deploy/nginx.conf") and not is_ignored("cardiocrowd/settings.py")


def test_the_browser_app_is_built_as_scripts_build_it_and_copied_where_the_shell_page_reads_it():
    frontend = stage("frontend")
    [workdir] = [rest for instruction, rest in frontend["instructions"] if instruction == "WORKDIR"]
    runs = [rest for instruction, rest in frontend["instructions"] if instruction == "RUN"]
    out_dir = re.search(r'outDir:\s*"([^"]+)"', (REPOSITORY / "frontend" / "vite.config.ts").read_text())[1]
    copies = [rest for instruction, rest in stage("app")["instructions"]
              if instruction == "COPY" and rest.startswith("--from=frontend")]

    assert runs == ["npm ci --no-audit --no-fund --loglevel=error", "npx vite build --logLevel error"]
    assert "npx vite build --logLevel error" in (REPOSITORY / "scripts" / "lib.sh").read_text()
    assert copies == [f"--from=frontend {workdir}/{out_dir}/ /app/frontend/{out_dir}/"]


def test_the_images_paths_are_the_deployments_paths():
    image = environment_of(stage("app"))
    compose_env, kubernetes_env = read_env_file(DEPLOY / ".env.example"), read_env_file(K8S / "base" / "config.env")
    generator = load_generator()
    setup = " ".join(rest for instruction, rest in stage("app")["instructions"] if instruction == "RUN")

    for name in ("DJANGO_STATIC_ROOT", "CARDIOCROWD_DATA_DIR"):
        assert image[name] == compose_env[name] == kubernetes_env[name], name
    assert image["CARDIOCROWD_DATA_DIR"] == generator.DATA_DIR
    assert compose_env["PROMETHEUS_MULTIPROC_DIR"] == kubernetes_env["PROMETHEUS_MULTIPROC_DIR"]
    assert f"mkdir -p {image['CARDIOCROWD_DATA_DIR']}" in setup and compose_env["PROMETHEUS_MULTIPROC_DIR"] in setup
    assert f"--uid {generator.APP_USER}" in setup
    assert ("USER", f"{generator.APP_USER}:{generator.APP_USER}") in stage("app")["instructions"]


def test_the_images_default_command_is_the_web_server():
    [(_, command)] = [item for item in stage("app")["instructions"] if item[0] == "CMD"]
    [(_, exposed)] = [item for item in stage("app")["instructions"] if item[0] == "EXPOSE"]
    [gunicorn] = parse_command(json.loads(command))

    assert gunicorn.params["bind"] == [f"0.0.0.0:{exposed}"]


def test_both_python_bases_are_pythons_the_project_supports():
    supported = SpecifierSet(tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["project"]["requires-python"])
    python_image = global_arguments()["PYTHON_IMAGE"]
    cuda_image = global_arguments()["CUDA_IMAGE"]

    assert re.fullmatch(r"python:(\d+\.\d+)-slim-\w+", python_image)[1] in supported
    assert "ubuntu24.04" in cuda_image and "3.12" in supported  # Ubuntu 24.04's python3 is 3.12


def test_requirements_are_split_into_torch_and_the_rest(tmp_path):
    dependencies = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["project"]["dependencies"]

    subprocess.run([sys.executable, str(DEPLOY / "pyproject_requirements.py"), str(REPOSITORY / "pyproject.toml"),
                    str(tmp_path / "torch.txt"), str(tmp_path / "requirements.txt")], check=True)

    torch = (tmp_path / "torch.txt").read_text().splitlines()
    assert torch == [dependency for dependency in dependencies if dependency.startswith("torch")] == ["torch==2.13.0"]
    assert (tmp_path / "requirements.txt").read_text().splitlines() == \
        [dependency for dependency in dependencies if not dependency.startswith("torch")]
