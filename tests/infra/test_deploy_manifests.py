"""The production stack on paper: compose file, Kubernetes manifests and Dockerfile, checked by reading.

No Docker engine or cluster runs here, so these tests parse every file with
``yaml.safe_load_all`` and check what would otherwise only fail at deploy time: kinds and
references between objects, the GPU request, worker queues, image tags, that every
``DOPPEL_*`` name is a real setting, and that the Dockerfile and commands name files and
modules that exist.
"""

from __future__ import annotations

import ast
import fnmatch
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.jobs.routing import expand_queues
from infra.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "infra" / "deploy"
K8S = DEPLOY / "k8s"
NAMESPACE = "doppel"
SETTING_NAMES = {f"DOPPEL_{name.upper()}" for name in Settings.model_fields}
OTHER_ENV_PREFIXES = ("AWS_", "STREAMLIT_", "PG_", "POSTGRES_", "MINIO_")


def _docs(path: Path) -> list[dict[str, Any]]:
    with path.open() as fh:
        return [doc for doc in yaml.safe_load_all(fh) if doc]


def _k8s_objects(*, include_examples: bool = True) -> list[dict[str, Any]]:
    files = sorted(K8S.glob("*.yaml"))
    return [doc for f in files if include_examples or not f.name.endswith(".example.yaml") for doc in _docs(f)]


def _of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {obj["metadata"]["name"]: obj for obj in _k8s_objects() if obj["kind"] == kind}


def _containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    return workload["spec"]["template"]["spec"]["containers"]


def _compose() -> dict[str, Any]:
    return _docs(DEPLOY / "compose.yaml")[0]


def _queue(command: list[str]) -> str:
    assert command[:2] == ["dramatiq", "workers.tasks"], command
    return command[command.index("-Q") + 1]


def _doppel_workloads() -> dict[str, dict[str, Any]]:
    workloads = {**_of_kind("Deployment"), **_of_kind("Job")}
    assert workloads
    return workloads


# -- every file parses ---------------------------------------------------------------------

def test_every_yaml_file_parses_with_safe_load() -> None:
    files = sorted(DEPLOY.rglob("*.yaml"))

    assert {f.name for f in files} >= {"compose.yaml", "app.yaml", "worker-cpu.yaml", "worker-gpu.yaml", "kustomization.yaml"}
    for path in files:
        assert _docs(path), f"{path} holds no document"


def test_the_manifests_hold_the_whole_production_stack() -> None:
    kinds = sorted(obj["kind"] for obj in _k8s_objects(include_examples=False))

    assert set(_of_kind("Deployment")) == {"doppel-app", "doppel-worker-cpu", "doppel-worker-gpu"}
    assert {"Namespace", "ConfigMap", "Service", "Job", "HorizontalPodAutoscaler", "ScaledObject"} <= set(kinds)
    assert _of_kind("Service")["doppel-app"]["spec"]["selector"]
    external = {name for name, svc in _of_kind("Service").items() if svc["spec"].get("type") == "ExternalName"}
    assert external == {"postgres", "redis"}


def test_the_kustomization_lists_every_manifest_except_the_examples() -> None:
    kustomization = _docs(K8S / "kustomization.yaml")[0]
    expected = {f.name for f in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    expected = {name for name in expected if not name.endswith(".example.yaml")}

    assert set(kustomization["resources"]) == expected
    assert kustomization["namespace"] == NAMESPACE


def test_every_namespaced_object_lives_in_the_doppel_namespace() -> None:
    for obj in _k8s_objects():
        if obj["kind"] in ("Namespace", "Kustomization"):
            continue
        assert obj["metadata"].get("namespace") == NAMESPACE, obj["metadata"]["name"]


# -- references between objects ------------------------------------------------------------

def test_selectors_match_the_pod_labels_they_select() -> None:
    deployments = _of_kind("Deployment")
    for name, deployment in deployments.items():
        selector = deployment["spec"]["selector"]["matchLabels"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), name

    service = _of_kind("Service")["doppel-app"]
    app_labels = deployments["doppel-app"]["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= app_labels.items()
    port_names = {p["name"] for p in _containers(deployments["doppel-app"])[0]["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names


def test_config_and_secret_references_name_objects_and_keys_that_exist() -> None:
    config_maps = _of_kind("ConfigMap")
    secrets = {name: set(obj.get("stringData", {})) for name, obj in _of_kind("Secret").items()}
    for name, workload in _doppel_workloads().items():
        spec = workload["spec"]["template"]["spec"]
        for container in spec["containers"]:
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in config_maps, name
            for var in container.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in secrets[ref["name"]], f"{name}: {ref}"
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                assert volume["secret"]["secretName"] in secrets, name
    auth = _of_kind("TriggerAuthentication")["doppel-redis"]
    for ref in auth["spec"]["secretTargetRef"]:
        assert ref["key"] in secrets[ref["name"]]


def test_autoscalers_target_deployments_that_exist() -> None:
    deployments = _of_kind("Deployment")

    for hpa in _of_kind("HorizontalPodAutoscaler").values():
        assert hpa["spec"]["scaleTargetRef"]["name"] in deployments
    scaled = _of_kind("ScaledObject")
    assert {obj["spec"]["scaleTargetRef"]["name"] for obj in scaled.values()} == {"doppel-worker-cpu", "doppel-worker-gpu"}


def test_each_worker_scales_on_the_length_of_the_queue_it_consumes() -> None:
    deployments = _of_kind("Deployment")
    for scaled in _of_kind("ScaledObject").values():
        target = deployments[scaled["spec"]["scaleTargetRef"]["name"]]
        queue = _queue(_containers(target)[0]["command"])
        lists = {t["metadata"]["listName"] for t in scaled["spec"]["triggers"] if t["type"] == "redis"}
        assert lists == {f"dramatiq:{q}" for q in expand_queues([queue])}  # the family's per-tier queues


# -- workers and the GPU --------------------------------------------------------------------

def test_the_workers_consume_the_cpu_and_gpu_queues_with_dramatiq() -> None:
    deployments = _of_kind("Deployment")
    services = _compose()["services"]

    assert _queue(_containers(deployments["doppel-worker-cpu"])[0]["command"]) == "cpu"
    assert _queue(_containers(deployments["doppel-worker-gpu"])[0]["command"]) == "gpu"
    assert _queue(services["worker-cpu"]["command"]) == "cpu"
    assert _queue(services["worker-gpu"]["command"]) == "gpu"


def test_only_the_gpu_worker_requests_a_gpu() -> None:
    for name, deployment in _of_kind("Deployment").items():
        resources = _containers(deployment)[0]["resources"]
        gpus = [resources.get(part, {}).get("nvidia.com/gpu", 0) for part in ("requests", "limits")]
        if name == "doppel-worker-gpu":
            assert all(int(n) >= 1 for n in gpus)
            tolerations = deployment["spec"]["template"]["spec"]["tolerations"]
            assert any(t["key"] == "nvidia.com/gpu" for t in tolerations)
        else:
            assert gpus == [0, 0], name


def test_the_compose_gpu_worker_reserves_an_nvidia_device() -> None:
    worker = _compose()["services"]["worker-gpu"]

    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert worker["profiles"] == ["gpu"]


def test_the_compose_file_runs_the_whole_stack() -> None:
    services = _compose()["services"]

    assert {"app", "worker-cpu", "worker-gpu", "postgres", "redis", "minio", "migrate"} <= set(services)
    assert services["app"]["command"] == ["python", "-m", "app"]
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
        build = service.get("build")
        if build:
            assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == REPO / "Dockerfile"


# -- settings and images --------------------------------------------------------------------

def _env_names() -> list[tuple[str, str]]:
    names: list[tuple[str, str]] = []
    for obj in _k8s_objects():
        where = f"{obj['kind']}/{obj.get('metadata', {}).get('name', '')}"
        if obj["kind"] == "ConfigMap":
            names += [(where, key) for key in obj["data"]]
        if obj["kind"] == "Secret" and obj["metadata"]["name"] == "doppel-secrets":
            names += [(where, key) for key in obj["stringData"]]
        if obj["kind"] in ("Deployment", "Job"):
            names += [(where, var["name"]) for c in _containers(obj) for var in c.get("env", [])]
    for name, service in _compose()["services"].items():
        if service.get("image", "").startswith("doppel:"):
            names += [(f"compose/{name}", key) for key in service.get("environment", {})]
    return names


def test_every_doppel_variable_is_a_field_of_the_settings() -> None:
    names = _env_names()

    assert len(names) > 20
    for where, name in names:
        if name.startswith("DOPPEL_"):
            assert name in SETTING_NAMES, f"{where}: {name} is not a setting in infra/settings.py"
        else:
            assert name.startswith(OTHER_ENV_PREFIXES), f"{where}: unexpected variable {name}"


def test_the_stack_points_every_production_setting_somewhere() -> None:
    config = _of_kind("ConfigMap")["doppel-config"]["data"]
    secret = _of_kind("Secret")["doppel-secrets"]["stringData"]
    compose_env = _compose()["services"]["app"]["environment"]

    for settings in ({**config, **secret}, compose_env):
        assert settings["DOPPEL_STORAGE_URL"].startswith("s3://")
        assert settings["DOPPEL_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert settings["DOPPEL_BROKER_URL"].startswith(("redis://", "rediss://"))
        assert settings["DOPPEL_CACHE_URL"].startswith(("redis://", "rediss://"))


def test_all_doppel_containers_run_one_image_with_a_gpu_variant() -> None:
    images = {name: {c["image"] for c in _containers(w)} for name, w in _doppel_workloads().items()}
    gpu = images.pop("doppel-worker-gpu")
    cpu_images = set().union(*images.values())

    assert len(cpu_images) == 1 and len(gpu) == 1
    (image,) = cpu_images
    repository, tag = image.rsplit(":", 1)
    assert tag and gpu == {f"{repository}:{tag}-gpu"}

    services = _compose()["services"]
    assert services["app"]["image"] == services["worker-cpu"]["image"] == services["migrate"]["image"]
    assert services["worker-gpu"]["image"] == services["app"]["image"] + "-gpu"


# -- commands name real code ---------------------------------------------------------------

def _module_file(module: str) -> Path | None:
    base = REPO.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__main__.py", base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _referenced_code(command: list[str]) -> list[tuple[str, str | None]]:
    """(module, name) pairs a command runs: python -m M, dramatiq M, from M import N."""
    refs: list[tuple[str, str | None]] = []
    if command[:2] == ["python", "-m"]:
        refs.append((command[2], None))
    if command[0] == "dramatiq":
        refs.append((command[1], None))
    if command[:2] == ["python", "-c"]:
        for module, names in re.findall(r"from ([\w.]+) import ([\w, ]+)", command[2]):
            refs += [(module, name.strip()) for name in names.split(",")]
    return refs


def test_every_command_names_a_module_and_function_that_exist() -> None:
    commands = [c["command"] for w in _doppel_workloads().values() for c in _containers(w)]
    commands += [s["command"] for s in _compose()["services"].values() if s.get("image", "").startswith("doppel:")]
    refs = [ref for command in commands for ref in _referenced_code(command)]

    assert ("app", None) in refs and ("workers.tasks", None) in refs and ("infra.db.migrate", "migrate") in refs
    for module, name in refs:
        path = _module_file(module)
        assert path is not None, f"commands run {module}, which does not exist"
        if name:
            tree = ast.parse(path.read_text())
            defined = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
            assert name in defined, f"{module} defines no {name}"


def test_the_app_probes_and_ports_match_streamlits_port() -> None:
    app = _containers(_of_kind("Deployment")["doppel-app"])[0]
    port = app["ports"][0]["containerPort"]

    assert port == 8501
    assert "STREAMLIT_SERVER_PORT=8501" in (REPO / "Dockerfile").read_text()
    assert app["readinessProbe"]["httpGet"]["path"] == "/_stcore/health"
    assert _compose()["services"]["app"]["ports"] == ["8501:8501"]


# -- the Dockerfile ----------------------------------------------------------------------------

def _dockerfile() -> list[tuple[str, str]]:
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def _dockerignored(path: str) -> bool:
    patterns = [p.strip() for p in (REPO / ".dockerignore").read_text().splitlines() if p.strip() and not p.startswith("#")]
    return any(fnmatch.fnmatch(path, p) or path.startswith(p.rstrip("/") + "/") for p in patterns)


def test_the_dockerfile_builds_from_python_311_slim_and_runs_the_app_as_non_root() -> None:
    instructions = _dockerfile()
    values = {keyword: rest for keyword, rest in instructions}

    assert values["FROM"] == "python:3.11-slim"
    assert values["CMD"] == '["python", "-m", "app"]'
    assert values["USER"] not in ("root", "0")
    runs = " ".join(rest for keyword, rest in instructions if keyword == "RUN")
    assert "pip install --no-deps ." in runs
    args = " ".join(rest for keyword, rest in instructions if keyword == "ARG")
    assert "TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" in args  # CPU torch unless a build says otherwise


def test_the_dockerfile_copies_files_that_exist() -> None:
    copies = [rest.split() for keyword, rest in _dockerfile() if keyword == "COPY"]

    assert copies
    for *sources, _destination in copies:
        for source in sources:
            assert (REPO / source).exists(), f"Dockerfile copies {source}, which does not exist"


def test_the_build_context_keeps_the_code_and_leaves_out_secrets_and_state() -> None:
    for needed in ["app/__main__.py", "app/main.py", "pages/data.py", "engine/__init__.py", "infra/settings.py",
                   "streamlit_config/config.toml", "pyproject.toml", "README.md"]:
        assert (REPO / needed).exists(), needed
        assert not _dockerignored(needed), f".dockerignore drops {needed}, which the image needs"
    for excluded in ["streamlit_config/secrets.toml", ".venv/bin/python", ".doppel/doppel.db", "tests/conftest.py", ".git/HEAD"]:
        assert _dockerignored(excluded), f".dockerignore lets {excluded} into the image"


@pytest.mark.parametrize("package", ["engine", "infra", "app", "workers", "auth"])
def test_every_package_pyproject_installs_reaches_the_image(package: str) -> None:
    assert not _dockerignored(f"{package}/__init__.py")
