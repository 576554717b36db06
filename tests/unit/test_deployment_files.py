"""compose.yaml, the Dockerfile and deployments/k8s/ checked against the code: no container
engine runs here, so the files are parsed and every reference (images, ports, env names,
probes, console scripts, secrets) is compared with what the code really reads and serves."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from quorra.broker.redis.config_check import RedisConfig
from quorra.http.system import healthz, readyz
from quorra.settings import Settings, parse_address

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SCRIPTS = set(PYPROJECT["project"]["scripts"])
IMAGE = f"quorra:{PYPROJECT['project']['version']}"
#: The worker's settings (README "Configuration"), plus its handler module and log level.
WORKER_ENV = {"QUORRA_WORKER_ID", "QUORRA_WORKER_QUEUES", "QUORRA_WORKER_MAX_JOBS",
              "QUORRA_WORKER_LEASE_TTL", "QUORRA_GRPC_ADDR", "QUORRA_API_KEY",
              "QUORRA_WORKER_HANDLERS", "QUORRA_LOG_LEVEL"}
DEFAULTS = Settings()
REDIS_DIR = ROOT / "deployments" / "redis"
#: What Redis must keep for Quorra (stream leases live only in Redis until recorded).
REDIS_NEEDS = {"maxmemory-policy": "noeviction", "appendonly": "yes", "appendfsync": "everysec"}
PROBES = {"/healthz": healthz, "/readyz": readyz}


class _Recorder(Mapping[str, str]):
    """An empty environment that remembers which variables were asked for."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def __getitem__(self, key: str) -> str:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def get(self, key: str, default: Any = None) -> Any:
        self.names.add(key)
        return default


def _server_env() -> set[str]:
    recorder = _Recorder()
    Settings.from_env(recorder)
    return recorder.names


SERVER_ENV = _server_env()


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return data


def _k8s() -> dict[tuple[str, str], dict[str, Any]]:
    docs = {}
    for path in sorted((ROOT / "deployments" / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            docs[(doc["kind"], doc.get("metadata", {}).get("name", path.name))] = doc
    return docs


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container)


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container.get("env", [])}


def _redis_conf(text: str) -> dict[str, str]:
    """redis.conf directives (the last one wins, as in Redis)."""
    conf = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.strip().partition(" ")
            conf[name.lower()] = value.strip()
    return conf


def _redis_args(args: list[str]) -> dict[str, str]:
    """``--name value`` arguments of a redis-server command line."""
    return {args[i][2:]: args[i + 1] for i in range(len(args) - 1) if args[i].startswith("--")}


def _port(addr: str) -> int:
    return parse_address(addr).port


def test_the_server_env_names_come_from_settings() -> None:
    assert {"DATABASE_URL", "REDIS_URL", "QUORRA_API_KEY", "QUORRA_HTTP_ADDR",
            "QUORRA_GRPC_ADDR"} <= SERVER_ENV


def test_probe_paths_are_served() -> None:
    for path, handler in PROBES.items():
        assert path in handler.paths


# -- Dockerfile ------------------------------------------------------------------------------

def test_dockerfile_is_multi_stage_and_runs_unprivileged() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, re.M)
    assert len(stages) >= 2
    final = text[text.rindex("\nFROM "):]
    user = re.findall(r"^USER\s+(\S+)", final, re.M)
    assert user and user[-1].split(":")[0] not in ("0", "root")
    exposed = {int(p) for line in re.findall(r"^EXPOSE\s+(.+)$", final, re.M)
               for p in line.split()}
    assert exposed == {DEFAULTS.http_addr.port, DEFAULTS.grpc_addr.port}
    for name, value in re.findall(r"(QUORRA_\w+)=(\S+)", final):
        assert name in SERVER_ENV
        assert _port(value) in exposed
    (cmd,) = re.findall(r'^CMD\s+\["([^"]+)"', final, re.M)
    assert cmd in SCRIPTS


# -- compose.yaml ----------------------------------------------------------------------------

def test_compose_has_the_services_with_health_checks() -> None:
    services = _compose()["services"]
    assert {"postgres", "redis", "server", "worker-1", "worker-2"} <= set(services)
    for name in ("postgres", "redis", "server"):
        assert services[name]["healthcheck"]["test"]
    server_check = " ".join(services["server"]["healthcheck"]["test"])
    assert any(path in server_check for path in PROBES)
    for name in ("worker-1", "worker-2"):
        assert services[name]["depends_on"]["server"]["condition"] == "service_healthy"
    for dependency in ("postgres", "redis"):
        assert services["server"]["depends_on"][dependency]["condition"] == "service_healthy"


def test_compose_references_match_the_code() -> None:
    services = _compose()["services"]
    server = services["server"]
    env = server["environment"]
    assert set(env) <= SERVER_ENV
    assert server["image"] == IMAGE and server["build"] == "."
    published = {tuple(int(p) for p in mapping.split(":")) for mapping in server["ports"]}
    assert {target for _, target in published} == {_port(env["QUORRA_HTTP_ADDR"]),
                                                   _port(env["QUORRA_GRPC_ADDR"])}
    assert re.search(r"@postgres:5432/", env["DATABASE_URL"])
    assert env["REDIS_URL"].startswith("redis://redis:6379")
    for name in ("worker-1", "worker-2"):
        worker = services[name]
        assert set(worker["environment"]) <= WORKER_ENV and worker["image"] == IMAGE
        host, port = worker["environment"]["QUORRA_GRPC_ADDR"].split(":")
        assert host == "server" and int(port) == _port(env["QUORRA_GRPC_ADDR"])
        assert worker["environment"]["QUORRA_API_KEY"] == env["QUORRA_API_KEY"]


@pytest.mark.parametrize("service", ["server", "worker-1", "worker-2"])
def test_compose_commands_are_console_scripts(service: str) -> None:
    assert _compose()["services"][service]["command"][0] in SCRIPTS


# -- Redis -----------------------------------------------------------------------------------

def test_redis_conf_keeps_what_quorra_holds_in_redis() -> None:
    conf = _redis_conf((REDIS_DIR / "redis.conf").read_text())
    assert REDIS_NEEDS.items() <= conf.items()
    checked = RedisConfig(conf["maxmemory-policy"], "CONFIG GET", conf["appendonly"] == "yes")
    assert checked.warnings() == [], "the server would warn about its own reference config"


def test_compose_runs_redis_with_the_conf_and_a_volume() -> None:
    compose = _compose()
    redis = compose["services"]["redis"]
    mounts = dict(volume.split(":")[:2] for volume in redis["volumes"])  # source -> target
    command = redis["command"]
    assert command[0] == "redis-server"
    assert mounts["./deployments/redis/redis.conf"] == command[1]
    assert (ROOT / "deployments" / "redis" / "redis.conf").is_file()
    overrides = _redis_args(command[2:])
    assert all(overrides.get(name, value) == value for name, value in REDIS_NEEDS.items())
    data = next(source for source, target in mounts.items() if target == "/data")
    assert data in compose["volumes"], "the AOF outlives the container"


def _redis_component() -> dict[tuple[str, str], dict[str, Any]]:
    docs = {}
    for doc in yaml.safe_load_all((REDIS_DIR / "redis.yaml").read_text()):
        docs[(doc["kind"], doc["metadata"]["name"])] = doc
    return docs


def test_k8s_redis_component_uses_the_conf() -> None:
    component = yaml.safe_load((REDIS_DIR / "kustomization.yaml").read_text())
    base = yaml.safe_load((ROOT / "deployments" / "k8s" / "kustomization.yaml").read_text())
    assert "../redis" in base["components"] and component["kind"] == "Component"
    (generator,) = component["configMapGenerator"]
    assert generator["files"] == ["redis.conf"]
    statefulset = _redis_component()[("StatefulSet", "redis")]
    pod = statefulset["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert volumes["config"]["configMap"]["name"] == generator["name"]
    assert container["args"][:2] == ["redis-server", f"{mounts['config']}/redis.conf"]
    overrides = _redis_args(container["args"][2:])
    assert all(overrides.get(name, value) == value for name, value in REDIS_NEEDS.items())
    assert mounts["data"] == "/data"  # the image's working directory: the AOF's home
    claims = {c["metadata"]["name"] for c in statefulset["spec"]["volumeClaimTemplates"]}
    assert "data" in claims and "data" not in volumes
    maxmemory = int(overrides["maxmemory"].removesuffix("mb"))
    limit = int(container["resources"]["limits"]["memory"].removesuffix("Mi"))
    assert 0 < maxmemory < limit, "a full Redis refuses writes before it is OOM-killed"
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_k8s_secret_redis_url_names_the_redis_service() -> None:
    url = _k8s()[("Secret", "quorra")]["stringData"]["redis-url"]
    host, port = re.match(r"redis://([^:/]+):(\d+)/", url).groups()  # type: ignore[union-attr]
    service = _redis_component()[("Service", host)]
    assert int(port) in {p["port"] for p in service["spec"]["ports"]}


# -- Kubernetes ------------------------------------------------------------------------------

def test_k8s_has_the_objects() -> None:
    docs = _k8s()
    assert {("Deployment", "quorra-server"), ("Deployment", "quorra-worker"),
            ("Service", "quorra-server"), ("Secret", "quorra")} <= set(docs)
    listed = set(docs[("Kustomization", "kustomization.yaml")]["resources"])
    assert listed == {p.name for p in (ROOT / "deployments" / "k8s").glob("*.yaml")} - {
        "kustomization.yaml"}


def test_k8s_server_probes_ports_and_env() -> None:
    docs = _k8s()
    server = _container(docs[("Deployment", "quorra-server")])
    ports = {p["name"]: p["containerPort"] for p in server["ports"]}
    env = _env(server)
    assert set(env) <= SERVER_ENV
    assert ports == {"http": _port(env["QUORRA_HTTP_ADDR"]["value"]),
                     "grpc": _port(env["QUORRA_GRPC_ADDR"]["value"])}
    assert server["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert server["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("readinessProbe", "livenessProbe"):
        assert server[probe]["httpGet"]["port"] == "http"
    assert server["image"] == IMAGE and server["command"][0] in SCRIPTS


def test_k8s_service_selects_the_server_and_its_named_ports() -> None:
    docs = _k8s()
    deployment = docs[("Deployment", "quorra-server")]
    service = docs[("Service", "quorra-server")]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    names = {p["name"] for p in _container(deployment)["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} == names


def test_k8s_worker_reaches_the_service_and_runs_as_non_root() -> None:
    docs = _k8s()
    worker = _container(docs[("Deployment", "quorra-worker")])
    env = _env(worker)
    assert set(env) <= WORKER_ENV and worker["image"] == IMAGE
    host, port = env["QUORRA_GRPC_ADDR"]["value"].split(":")
    service = docs[("Service", host)]
    assert int(port) in {p["port"] for p in service["spec"]["ports"] if p["name"] == "grpc"}
    for name in ("quorra-server", "quorra-worker"):
        pod = docs[("Deployment", name)]["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
    assert worker["command"][0] in SCRIPTS


def test_k8s_secret_references_exist() -> None:
    docs = _k8s()
    for name in ("quorra-server", "quorra-worker"):
        for item in _env(_container(docs[("Deployment", name)])).values():
            ref = item.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                secret = docs[("Secret", ref["name"])]
                assert ref["key"] in secret["stringData"]


def test_k8s_runs_as_the_images_user() -> None:
    final = (ROOT / "Dockerfile").read_text().rsplit("\nFROM ", 1)[1]
    uid = int(re.findall(r"^USER\s+(\d+)", final, re.M)[-1])
    for name in ("quorra-server", "quorra-worker"):
        pod = _k8s()[("Deployment", name)]["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsUser"] == uid


def test_kustomize_renders_the_manifests() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl missing")
    done = subprocess.run([kubectl, "kustomize", str(ROOT / "deployments" / "k8s")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    docs = [doc for doc in yaml.safe_load_all(done.stdout) if doc]
    assert sorted(doc["kind"] for doc in docs) == ["ConfigMap", "Deployment", "Deployment",
                                                    "Secret", "Service", "Service",
                                                    "StatefulSet"]
    (config,) = [doc for doc in docs if doc["kind"] == "ConfigMap"]
    assert config["data"]["redis.conf"] == (REDIS_DIR / "redis.conf").read_text()
