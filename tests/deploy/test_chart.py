"""The Helm chart, rendered offline for every ci/ value set and checked as a cluster would:
strict Kubernetes schemas, what a pod needs (probes, securityContext, Secrets, the
advertised address), no persistent volume anywhere, and a values schema that refuses
what it does not know."""

from __future__ import annotations

import copy
import os
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
from helmchart import (
    CHART,
    CI_VALUES,
    DOCKERFILE,
    ci_values,
    container,
    dockerfile,
    manifests,
    one,
    pod_environment,
    render,
)

# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest schema
# kubernetes-validate ships.
KUBE_VERSIONS = ["1.27.0", "1.37.0"]

# kubernetes-validate knows no CRDs; the ServiceMonitor's fields the chart sets, strictly.
SERVICE_MONITOR_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name", "labels"],
            "properties": {
                "name": {"type": "string"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["selector", "endpoints"],
            "properties": {
                "selector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"matchLabels": {"type": "object"}},
                },
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["port", "path"],
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string"},
                            "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                        },
                    },
                },
            },
        },
    },
}


@pytest.fixture(params=[p.name for p in CI_VALUES])
def ci(request: pytest.FixtureRequest) -> str:
    return request.param


def test_there_are_the_three_value_sets() -> None:
    assert [p.name for p in CI_VALUES] == [
        "autoscaling-monitoring.yaml",
        "minimal.yaml",
        "s3-existing-secrets.yaml",
    ]


def test_lint_is_clean(ci: str) -> None:
    report = helm.lint(str(CHART), ci_values(ci), strict=True)
    assert report["errors"] == [], report
    assert [m for m in report["messages"] if m["severity"] >= 2] == [], report


def test_every_manifest_is_valid_kubernetes(ci: str) -> None:
    import jsonschema

    docs = manifests(ci_values(ci))
    assert {"Deployment", "Service", "PodDisruptionBudget", "ServiceAccount"} <= {
        d["kind"] for d in docs
    }
    for doc in docs:
        if doc["kind"] == "ServiceMonitor":
            jsonschema.validate(doc, SERVICE_MONITOR_SCHEMA)
            continue
        for version in KUBE_VERSIONS:
            # strict: a field Kubernetes does not know is an error, not silently dropped
            kubernetes_validate.validate(doc, version, strict=True)


def test_a_misspelt_field_fails_the_strict_validation() -> None:
    """The validation above can fail: the same Deployment with one unknown field does."""
    deployment = one(manifests(ci_values("minimal.yaml")), "Deployment")
    bad = copy.deepcopy(deployment)
    bad["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBE_VERSIONS[-1], strict=True)


def test_no_persistent_volume_anywhere(ci: str) -> None:
    docs = manifests(ci_values(ci))
    kinds = {d["kind"] for d in docs}
    assert not kinds & {"PersistentVolumeClaim", "PersistentVolume", "StatefulSet"}
    spec = one(docs, "Deployment")["spec"]
    assert "volumeClaimTemplates" not in spec
    volumes = spec["template"]["spec"]["volumes"]
    assert volumes and all(set(v) == {"name", "emptyDir"} for v in volumes), volumes


def test_probes(ci: str) -> None:
    c = container(manifests(ci_values(ci)))
    (port,) = c["ports"]
    assert (port["name"], port["containerPort"]) == ("http", 8765)
    for probe, path in [
        ("startupProbe", "/healthz"),
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
    ]:
        assert c[probe]["httpGet"] == {"path": path, "port": "http"}, probe
    # The startup probe waits out the model load before liveness may restart the pod.
    startup = c["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 60


def test_a_stopping_pod_has_time_to_finish_calls_and_release_leases(ci: str) -> None:
    docs = manifests(ci_values(ci))
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    sleep = c["lifecycle"]["preStop"]["exec"]["command"]
    assert sleep[0] == "sleep"
    # What is left after preStop covers a lease term (10 s) several times over.
    assert pod["terminationGracePeriodSeconds"] - int(sleep[1]) >= 30
    strategy = one(docs, "Deployment")["spec"]["strategy"]["rollingUpdate"]
    assert strategy == {"maxSurge": 1, "maxUnavailable": 0}
    assert one(docs, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1


def test_restricted_security_context(ci: str) -> None:
    docs = manifests(ci_values(ci))
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    assert container(docs)["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert "resources" in container(docs)


def test_the_image_and_the_chart_agree() -> None:
    """The chart's writable mounts are the image's VOLUMEs, its user the image's USER, its
    port the image's."""
    image = dockerfile()
    docs = manifests(ci_values("minimal.yaml"))
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    c = container(docs)
    assert sorted(m["mountPath"] for m in c["volumeMounts"]) == sorted(image.volumes)
    ctx = pod["securityContext"]
    assert image.user == f"{ctx['runAsUser']}:{ctx['runAsGroup']}"
    assert image.expose == [c["ports"][0]["containerPort"]]
    assert image.entrypoint == ["memoturn", "serve"]
    assert "command" not in c and "args" not in c  # the image's entry point, as built
    env = pod_environment(c, pod_ip="10.1.2.3", secrets={})
    assert env["MEMOTURN_DATA"] == image.env["MEMOTURN_DATA"] == "/data"
    assert env["MEMOTURN_PORT"] == image.env["MEMOTURN_PORT"] == "8765"


def test_the_advertised_address_is_the_pod_ip(ci: str) -> None:
    c = container(manifests(ci_values(ci)))
    names = [e["name"] for e in c["env"]]
    # $(POD_IP) expands only if POD_IP is defined before it.
    assert names.index("POD_IP") < names.index("MEMOTURN_ADVERTISE")
    env = pod_environment(c, pod_ip="10.1.2.3", secrets=_secrets(ci))
    assert env["MEMOTURN_ADVERTISE"] == "http://10.1.2.3:8765"
    assert env["MEMOTURN_HOST"] == "0.0.0.0"
    assert env["MEMOTURN_OBJECT_STORE"] == ci_values(ci)["objectStore"]["url"]


def _secrets(ci: str) -> dict[str, dict[str, str]]:
    if ci == "s3-existing-secrets.yaml":  # made beforehand, as docs/deploy.md says
        return {
            "memoturn-s3": {"access-key-id": "A", "secret-access-key": "S"},
            "memoturn-signing-key": {"key": "k" * 64},
        }
    return {
        d["metadata"]["name"]: d["stringData"]
        for d in manifests(ci_values(ci))
        if d["kind"] == "Secret"
    }


def _secret_refs(c: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {
        e["name"]: (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
        for e in c["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }


def test_secrets_from_existing_secrets() -> None:
    docs = manifests(ci_values("s3-existing-secrets.yaml"))
    assert [d for d in docs if d["kind"] == "Secret"] == []  # the chart makes none
    assert _secret_refs(container(docs)) == {
        "AWS_ACCESS_KEY_ID": ("memoturn-s3", "access-key-id"),
        "AWS_SECRET_ACCESS_KEY": ("memoturn-s3", "secret-access-key"),
        "MEMOTURN_SIGNING_KEY": ("memoturn-signing-key", "key"),
    }
    env = pod_environment(
        container(docs), pod_ip="10.0.0.1", secrets=_secrets("s3-existing-secrets.yaml")
    )
    assert env["MEMOTURN_S3_ENDPOINT"] == "http://seaweedfs-s3.storage.svc:8333"
    assert env["AWS_REGION"] == "us-east-1"


def test_secrets_the_chart_creates() -> None:
    values = ci_values("autoscaling-monitoring.yaml")
    docs = manifests(values)
    secrets = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Secret"}
    assert set(secrets) == {"mt-memoturn-s3", "mt-memoturn-signing-key"}
    refs = _secret_refs(container(docs))
    assert refs == {
        "AWS_ACCESS_KEY_ID": ("mt-memoturn-s3", "AWS_ACCESS_KEY_ID"),
        "AWS_SECRET_ACCESS_KEY": ("mt-memoturn-s3", "AWS_SECRET_ACCESS_KEY"),
        "MEMOTURN_SIGNING_KEY": ("mt-memoturn-signing-key", "signing-key"),
    }
    env = pod_environment(
        container(docs), pod_ip="10.0.0.1", secrets=_secrets("autoscaling-monitoring.yaml")
    )
    assert env["AWS_ACCESS_KEY_ID"] == values["objectStore"]["credentials"]["accessKeyId"]
    assert env["MEMOTURN_SIGNING_KEY"] == values["signingKey"]["value"]
    # A changed Secret rolls the pods: its checksum is in the pod template.
    other = copy.deepcopy(values)
    other["signingKey"]["value"] = "ff" * 32
    annotation = "checksum/secrets"
    a = one(docs, "Deployment")["spec"]["template"]["metadata"]["annotations"][annotation]
    b = one(manifests(other), "Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert a != b[annotation]


def test_minimal_uses_ambient_credentials_and_the_stored_signing_key() -> None:
    docs = manifests(ci_values("minimal.yaml"))
    assert [d for d in docs if d["kind"] == "Secret"] == []
    assert _secret_refs(container(docs)) == {}
    names = {e["name"] for e in container(docs)["env"]}
    assert not names & {"AWS_ACCESS_KEY_ID", "MEMOTURN_SIGNING_KEY", "MEMOTURN_S3_ENDPOINT"}
    assert {d["kind"] for d in docs}.isdisjoint({"Ingress", "HorizontalPodAutoscaler"})


def test_autoscaling_and_monitoring() -> None:
    docs = manifests(ci_values("autoscaling-monitoring.yaml"))
    assert "replicas" not in one(docs, "Deployment")["spec"]  # the HPA owns the count
    hpa = one(docs, "HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "mt-memoturn",
    }
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 10)
    monitor = one(docs, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "15s"}]
    assert monitor["spec"]["selector"]["matchLabels"] == one(docs, "Service")["spec"]["selector"]


def test_ingress_points_at_the_service() -> None:
    docs = manifests(ci_values("s3-existing-secrets.yaml"))
    assert one(docs, "Deployment")["spec"]["replicas"] == 3
    ingress = one(docs, "Ingress")["spec"]
    (rule,) = ingress["rules"]
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": one(docs, "Service")["metadata"]["name"], "port": {"name": "http"}}
    assert ingress["tls"] == [{"secretName": "memoturn-tls", "hosts": ["memoturn.example.com"]}]


def test_notes_say_how_to_reach_a_node_and_get_a_root_token(ci: str) -> None:
    notes = render(ci_values(ci))["memoturn/templates/NOTES.txt"]
    assert "cat /data/root.token" in notes
    assert "deployment/mt-memoturn" in notes
    if ci == "s3-existing-secrets.yaml":
        assert "https://memoturn.example.com" in notes
    else:
        assert "port-forward service/mt-memoturn 8765:8765" in notes


MINIMAL = {"objectStore": {"url": "s3://memoturn-data"}}


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({}, "/objectStore/url"),  # no bucket: the chart's defaults alone are refused
        ({"replicas": 3}, "'replicas' not allowed"),  # a typo of replicaCount
        ({"objectStore": {"url": "s3://memoturn-data", "bukcet": "x"}}, "'bukcet' not allowed"),
        ({"objectStore": {"url": "file:///data"}}, "/objectStore/url"),
        ({"node": {"durability": "eventual"}}, "/node/durability"),
        ({"node": {"hibernateAfter": 0}}, "/node/hibernateAfter"),
        ({"replicaCount": 0}, "/replicaCount"),
        ({"replicaCount": "2"}, "/replicaCount"),
        ({"signingKey": {"value": "too-short"}}, "/signingKey/value"),
        (
            {"signingKey": {"existingSecret": "k", "value": "ab" * 32}},
            "/signingKey/value",
        ),
        (
            {"objectStore": {"url": "s3://memoturn-data", "credentials": {"accessKeyId": "A"}}},
            "/objectStore/credentials/secretAccessKey",
        ),
        (
            {
                "objectStore": {
                    "url": "s3://memoturn-data",
                    "credentials": {
                        "existingSecret": "s3",
                        "accessKeyId": "A",
                        "secretAccessKey": "S",
                    },
                }
            },
            "/objectStore/credentials/accessKeyId",
        ),
        ({"extraEnv": [{"name": "MEMOTURN_DATA", "value": "/elsewhere"}]}, "/extraEnv/0/name"),
        ({"probes": {"startup": {"periodSeconds": 0}}}, "/probes/startup/periodSeconds"),
        # null deletes a default (helm --set x=null): the schema still wants the key
        ({"probes": {"startup": {"failureThreshold": None}}}, "/probes/startup"),
        ({"ingress": {"enabled": "yes"}}, "/ingress/enabled"),
    ],
)
def test_the_values_schema_refuses_a_bad_value(change: dict[str, Any], where: str) -> None:
    values = {**MINIMAL, **change} if change else {}
    with helm.Chart.load(CHART) as chart:
        with pytest.raises(helm.HelmValuesError) as refused:
            chart.validate_schema(values)
        assert where in str(refused.value)
        with pytest.raises(helm.HelmValuesError):  # and so does an install's render
            chart.render(values, name="mt")


def test_the_values_schema_accepts_the_minimal_values() -> None:
    with helm.Chart.load(CHART) as chart:
        chart.validate_schema(MINIMAL)


# Every MEMOTURN_* variable the chart sets, and the `memoturn serve` option it configures.
SERVE_OPTIONS = {
    "MEMOTURN_HOST": "host",
    "MEMOTURN_PORT": "port",
    "MEMOTURN_DATA": "data",
    "MEMOTURN_ADVERTISE": "advertise",
    "MEMOTURN_OBJECT_STORE": "object_store",
    "MEMOTURN_S3_ENDPOINT": "s3_endpoint",
    "MEMOTURN_DURABILITY": "durability",
    "MEMOTURN_HIBERNATE_AFTER": "hibernate_after",
    "MEMOTURN_MIN_TXID_WAIT": "min_txid_wait",
    "MEMOTURN_LOG_LEVEL": "log_level",
}


def test_memoturn_serve_reads_every_variable_the_chart_sets(monkeypatch) -> None:
    """A misspelt variable would be ignored silently by the node: each one must move the
    option it is meant for."""
    from memoturn.cli import build_parser

    values = ci_values("s3-existing-secrets.yaml")
    values["node"] = {"durability": "local", "hibernateAfter": 42.5, "minTxidWait": 2,
                      "logLevel": "debug"}  # fmt: skip
    env = pod_environment(
        container(manifests(values)),
        pod_ip="10.1.2.3",
        secrets=_secrets("s3-existing-secrets.yaml"),
    )
    ours = {k for k in env if k.startswith("MEMOTURN_")}
    assert ours == {*SERVE_OPTIONS, "MEMOTURN_SIGNING_KEY"}
    for name in list(os.environ):
        if name.startswith("MEMOTURN_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    args = build_parser().parse_args(["serve"])
    for name, option in SERVE_OPTIONS.items():
        parsed = getattr(args, option)
        wanted = type(parsed)(env[name]) if isinstance(parsed, int | float) else env[name]
        assert parsed == wanted, name
    # read by serve itself when it starts (tests/deploy/test_image_process.py runs it)
    from memoturn.cli import _env

    assert _env("SIGNING_KEY") == "k" * 64


def test_the_image_installs_the_runtime_dependencies_only() -> None:
    """The build installs the package with requirements.txt as constraints (pins, not a
    list to install): the dev and test packages stay out of the image."""
    text = DOCKERFILE.read_text()
    assert "pip install --constraint requirements.txt ." in text
    assert "-r requirements.txt" not in text and "[dev]" not in text
