"""docs/deploy.md matches the chart: every value is documented and nothing else, and the
page's own values and Secrets install (schema-valid, rendered, and the Secret names and
keys it has the operator create are the ones the pods read)."""

from __future__ import annotations

import re
from typing import Any

import yaml
from helmchart import CHART, ROOT, container, manifests

PAGE = ROOT / "docs" / "deploy.md"
# Values that are Kubernetes objects or free maps, documented as one key.
WHOLE = {"resources", "podAnnotations", "podLabels", "nodeSelector", "affinity"}


def leaves(values: dict[str, Any], prefix: str = "") -> set[str]:
    out: set[str] = set()
    for key, value in values.items():
        name = prefix + key
        if isinstance(value, dict) and value and name not in WHOLE:
            out |= leaves(value, name + ".")
        else:
            out.add(name)
    return out


def documented() -> set[str]:
    section = PAGE.read_text().split("## 3. The values", 1)[1].split("\n## ", 1)[0]
    rows = [ln for ln in section.splitlines() if ln.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Za-z.]+)`", row.split(" | ")[0])}


def test_every_value_is_documented_and_only_those() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert documented() == leaves(values)


def test_the_pages_values_and_secrets_make_a_working_release() -> None:
    text = PAGE.read_text()
    example = re.search(r"\*\*The values\.\*\*.*?```yaml\n(.*?)```", text, re.S)
    assert example is not None
    docs = manifests(yaml.safe_load(example.group(1)))  # the schema accepts it
    made = {}  # the Secrets the page has the operator create, with their keys
    for name, keys in re.findall(
        r"create secret generic (\S+) \\\n((?:\s+--from-literal=[^\n]+\n)+)", text
    ):
        made[name] = set(re.findall(r"--from-literal=([a-z-]+)=", keys))
    assert set(made) == {"memoturn-s3", "memoturn-signing-key"}
    for env in container(docs)["env"]:
        ref = env.get("valueFrom", {}).get("secretKeyRef")
        if ref is not None:
            assert ref["key"] in made[ref["name"]], ref
