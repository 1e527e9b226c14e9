"""Render the Helm chart offline (helm-python-sdk: Helm's own Go SDK in a bundled library,
no helm binary, no cluster) and read the result as a kubelet would.

Shared by the chart tests, the image-as-a-process test and the cluster test, so the
processes those tests start get exactly the environment the chart gives a pod.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "memoturn"
DOCKERFILE = ROOT / "Dockerfile"
CI_VALUES = sorted((CHART / "ci").glob("*.yaml"))
RELEASE, NAMESPACE = "mt", "memory"


def ci_values(name: str) -> dict[str, Any]:
    return yaml.safe_load((CHART / "ci" / name).read_text()) or {}


def render(values: dict[str, Any]) -> dict[str, str]:
    """Template path -> rendered text, as `helm template` would (schema checked first)."""
    with helm.Chart.load(CHART) as chart:
        return chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)


def manifests(values: dict[str, Any]) -> list[dict[str, Any]]:
    """Every Kubernetes object the chart renders with ``values`` (NOTES.txt left out)."""
    docs: list[dict[str, Any]] = []
    for path, text in render(values).items():
        if path.endswith("NOTES.txt"):
            continue
        docs.extend(d for d in yaml.safe_load_all(text) if d is not None)
    return docs


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (c,) = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    return c


_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def pod_environment(
    c: dict[str, Any], *, pod_ip: str, secrets: dict[str, dict[str, str]]
) -> dict[str, str]:
    """The container's environment as the kubelet makes it: ``fieldRef: status.podIP`` is
    ``pod_ip``, ``secretKeyRef`` reads ``secrets[name][key]`` (a missing one is an error, as
    it is for a pod), and ``$(VAR)`` expands variables defined earlier in the list."""
    env: dict[str, str] = {}
    for item in c.get("env", []):
        if "value" in item:
            value = _REF.sub(lambda m: env.get(m.group(1), m.group(0)), str(item["value"]))
        else:
            source = item["valueFrom"]
            if "fieldRef" in source:
                assert source["fieldRef"]["fieldPath"] == "status.podIP", source
                value = pod_ip
            else:
                ref = source["secretKeyRef"]
                value = secrets[ref["name"]][ref["key"]]
        env[item["name"]] = value
    return env


@dataclass
class Image:
    """What the final stage of the Dockerfile declares."""

    env: dict[str, str] = field(default_factory=dict)
    entrypoint: list[str] = field(default_factory=list)
    user: str = ""
    workdir: str = ""
    volumes: list[str] = field(default_factory=list)
    expose: list[int] = field(default_factory=list)


def dockerfile() -> Image:
    """Parse the Dockerfile's final stage (continuation lines joined)."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    last_from = max(i for i, ln in enumerate(lines) if ln.upper().startswith("FROM "))
    image = Image()
    for line in lines[last_from + 1 :]:
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "ENV":
            for pair in shlex.split(rest):
                key, sep, value = pair.partition("=")
                assert sep, f"ENV needs KEY=VALUE pairs: {pair!r}"
                image.env[key] = value
        elif word == "ENTRYPOINT":
            image.entrypoint = yaml.safe_load(rest)
        elif word == "USER":
            image.user = rest.strip()
        elif word == "WORKDIR":
            image.workdir = rest.strip()
        elif word == "VOLUME":
            image.volumes = yaml.safe_load(rest)
        elif word == "EXPOSE":
            image.expose = [int(p.split("/")[0]) for p in rest.split()]
    return image
