"""The container image as processes, where no image can be built (no base image to pull).

:func:`build_install` lays out what the Dockerfile's final stage holds, under a root dir
``R``: a virtual environment at ``R/opt/memoturn`` with the package's *runtime*
distributions only (the closure of memoturn's requirements, copied from this environment,
byte-compiled like the image), the console script ``memoturn``, and an empty ``R/app``
(WORKDIR and HOME). It is owned by root and read-only to the image's ``USER``, whose ids
the node runs under when the tests run as root (otherwise the copy is made read-only).

:class:`Pod` starts the image's exact ENTRYPOINT with the image's ENV overlaid by the
environment the chart gives a pod (tests/deploy/helmchart.py resolves it as the kubelet
does), image paths mapped under ``R``, and only the image's VOLUMEs writable: fresh, empty
directories per pod, like emptyDir volumes. Two things differ from a pod, both for the
loopback-only rule of this machine: the node listens on 127.0.0.1 instead of 0.0.0.0, and
on a free port instead of 8765 (the advertised address follows).
"""

from __future__ import annotations

import copy
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
from helmchart import ROOT, Image, ci_values, container, dockerfile, manifests, pod_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from seaweed import ACCESS_KEY, BUCKET, REGION, SECRET_KEY, free_ports

STARTUP_BOUND_S = 120.0  # the chart's startupProbe: periodSeconds 2 x failureThreshold 60
IMAGE_VENV = "/opt/memoturn"


SIGNING_KEY = "5e" * 32


def chart_values(endpoint: str, prefix: str) -> dict[str, Any]:
    """The chart's "S3 with existing Secrets" value set, pointed at this S3 server."""
    values = copy.deepcopy(ci_values("s3-existing-secrets.yaml"))
    values["objectStore"].update(url=f"s3://{BUCKET}/{prefix}", endpoint=endpoint, region=REGION)
    return values


# The Secrets docs/deploy.md has the operator make before installing.
SECRETS = {
    "memoturn-s3": {"access-key-id": ACCESS_KEY, "secret-access-key": SECRET_KEY},
    "memoturn-signing-key": {"key": SIGNING_KEY},
}


def runtime_distributions() -> list[metadata.Distribution]:
    """memoturn and everything its (non-extra) requirements pull in, transitively."""
    found: dict[str, metadata.Distribution] = {}
    todo = ["memoturn"]
    while todo:
        name = canonicalize_name(todo.pop())
        if name in found:
            continue
        dist = metadata.distribution(name)
        found[name] = dist
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return sorted(found.values(), key=lambda d: canonicalize_name(d.metadata["Name"]))


def base_interpreter() -> str:
    """A Python of this minor version that the image's user may run (this one may live
    under root's home; the image has its own under /usr/local)."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [getattr(sys, "_base_executable", sys.executable), f"/usr/local/bin/{version}",
                  f"/usr/bin/{version}"]  # fmt: skip
    uid, _, gid = dockerfile().user.partition(":")
    as_user: dict[str, Any] = {}
    if os.geteuid() == 0:
        as_user = {"user": int(uid), "group": int(gid or uid), "extra_groups": []}
    for candidate in candidates:
        try:
            r = subprocess.run([candidate, "-c", "pass"], capture_output=True, **as_user)
        except OSError:
            continue
        if r.returncode == 0:
            return candidate
    raise AssertionError(f"no {version} that uid {uid} may run among {candidates}")


def build_install(root: Path) -> None:
    """The image's /opt/memoturn and /app under ``root`` (see the module docstring)."""
    venv = root / IMAGE_VENV.lstrip("/")
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site = venv / "lib" / version / "site-packages"
    site.mkdir(parents=True)
    # A virtual environment is this much: a pyvenv.cfg and a link to the interpreter.
    python = base_interpreter()
    (venv / "bin").mkdir()
    (venv / "bin" / "python").symlink_to(python)
    (venv / "pyvenv.cfg").write_text(
        f"home = {Path(python).parent}\ninclude-system-site-packages = false\n"
    )
    for dist in runtime_distributions():
        if canonicalize_name(dist.metadata["Name"]) == "memoturn":
            # Installed here as the image installs it: the package itself, not a link to src/.
            shutil.copytree(
                ROOT / "src" / "memoturn", site / "memoturn", copy_function=shutil.copy2
            )
            info = Path(str(dist._path))  # type: ignore[attr-defined]
            shutil.copytree(info, site / info.name)
            continue
        for file in dist.files or []:
            if ".." in file.parts:  # console scripts of other packages: not needed
                continue
            source = Path(str(dist.locate_file(file)))
            if source.is_file():
                target = site / file
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)  # keeps mtimes: the copied .pyc stay valid
    script = venv / "bin" / "memoturn"
    script.write_text(
        f"#!{venv}/bin/python\nimport sys\nfrom memoturn.cli import main\nsys.exit(main())\n"
    )
    # Compiled at build time, as the Dockerfile does: the node cannot write .pyc files.
    subprocess.run([str(venv / "bin" / "python"), "-m", "compileall", "-q", str(site / "memoturn")])
    (root / "app").mkdir()
    read_only = os.geteuid() != 0  # as root, the image's USER is what makes it read-only
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        mode = path.stat().st_mode
        wanted = (mode | 0o555 if path.is_dir() else mode | 0o444) & ~0o022
        if read_only:
            wanted &= ~0o222
        os.chmod(path, stat.S_IMODE(wanted))
    os.chmod(script, 0o555)


def snapshot(root: Path, skip: Path) -> dict[str, tuple[int, int, int]]:
    """Every path under ``root`` but ``skip``: (mode, size, mtime), to see writes."""
    out = {}
    for path in root.rglob("*"):
        if path == skip or skip in path.parents:
            continue
        st = path.lstat()
        out[str(path.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


class Pod:
    """One pod of the chart, as a process of the image (see the module docstring)."""

    def __init__(
        self,
        root: Path,
        name: str,
        values: dict[str, Any],
        secrets: dict[str, dict[str, str]],
    ) -> None:
        self.root = root
        self.name = name
        self.image: Image = dockerfile()
        self.port = free_ports(1)[0]
        self.url = f"http://127.0.0.1:{self.port}"
        pod_dir = root / "pods" / name
        # Fresh, empty emptyDir volumes, writable by the image's user only.
        self.volumes = {v: pod_dir / v.strip("/") for v in self.image.volumes}
        uid, _, gid = self.image.user.partition(":")
        self.uid, self.gid = int(uid), int(gid or uid)
        for path in self.volumes.values():
            path.mkdir(parents=True)
            if os.geteuid() == 0:
                os.chown(path, self.uid, self.gid)
            os.chmod(path, 0o700)
        self.log_path = pod_dir.parent / f"{name}.log"
        chart_env = pod_environment(
            container(manifests(values)), pod_ip="127.0.0.1", secrets=secrets
        )
        self.env = self._environment(chart_env)
        self.proc: subprocess.Popen[bytes] | None = None

    def _map(self, value: str) -> str:
        """An image path to its place under the root (volumes to this pod's own dirs)."""
        places = {**{v: str(p) for v, p in self.volumes.items()},
                  IMAGE_VENV: str(self.root / IMAGE_VENV.lstrip("/")),
                  self.image.workdir: str(self.root / self.image.workdir.lstrip("/"))}  # fmt: skip
        for image_path in sorted(places, key=len, reverse=True):
            if value == image_path or value.startswith(image_path + "/"):
                return places[image_path] + value[len(image_path) :]
        return value

    def _environment(self, chart_env: dict[str, str]) -> dict[str, str]:
        env = {**self.image.env, **chart_env}  # the pod's env wins over the image's ENV
        env = {k: ":".join(self._map(p) for p in v.split(":")) if k == "PATH" else self._map(v)
               for k, v in env.items()}  # fmt: skip
        assert env["MEMOTURN_HOST"] == "0.0.0.0" and env["MEMOTURN_PORT"] == "8765"
        assert env["MEMOTURN_ADVERTISE"] == "http://127.0.0.1:8765"
        env["MEMOTURN_HOST"] = "127.0.0.1"  # loopback only, on this machine
        env["MEMOTURN_PORT"] = str(self.port)
        env["MEMOTURN_ADVERTISE"] = self.url
        return env

    @property
    def data(self) -> Path:
        """This pod's data volume (the image's MEMOTURN_DATA)."""
        return self.volumes[self.image.env["MEMOTURN_DATA"]]

    def start(self) -> Pod:
        as_user: dict[str, Any] = {}
        if os.geteuid() == 0:
            as_user = {"user": self.uid, "group": self.gid, "extra_groups": []}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.image.entrypoint,  # found on the pod's PATH, as the runtime does
                env=self.env,
                cwd=self._map(self.image.workdir),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **as_user,
            )
        return self

    def wait_started(self) -> Pod:
        """Wait as the startup probe does: /healthz answers (bounded by the probe)."""
        deadline = time.monotonic() + STARTUP_BOUND_S
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.name} did not start in {STARTUP_BOUND_S}s:\n{self.log()}")

    def wait_ready(self) -> Pod:
        """Started, then ready as the readiness probe sees it: /readyz answers 200."""
        self.wait_started()
        deadline = time.monotonic() + STARTUP_BOUND_S
        while httpx.get(self.url + "/readyz", timeout=5).status_code != 200:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} never became ready:\n{self.log()}")
            time.sleep(0.1)
        return self

    def uids(self) -> set[int]:
        """The real, effective, saved and filesystem uids of the running node."""
        assert self.proc is not None
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        line = next(ln for ln in status.splitlines() if ln.startswith("Uid:"))
        return {int(u) for u in line.split()[1:]}

    def root_token(self) -> str:
        return (self.data / "root.token").read_text().strip()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout_s: float = 90.0) -> int:
        """The exit status (a pod's terminationGracePeriodSeconds bounds it, 60 s)."""
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(
                f"{self.name} did not stop in {timeout_s}s:\n{self.log()}"
            ) from None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
