"""One SeaweedFS and one image install for the deploy tests that run the image as
processes (building the install copies a few hundred MB, so it is made once)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from imageroot import build_install

from seaweed import weed_mini


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running ``weed mini``; yields its S3 endpoint."""
    with weed_mini(tmp_path_factory.mktemp("seaweedfs")) as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def image_root() -> Iterator[Path]:
    """The image's install, read-only to its user (tests/deploy/imageroot.py)."""
    # Not under pytest's tmp dir: that one is 0700, and the node runs as the image's user.
    root = Path(tempfile.mkdtemp(prefix="memoturn-image-"))
    os.chmod(root, 0o755)
    try:
        build_install(root)
        yield root
    finally:
        if os.geteuid() != 0:  # the copy was made read-only for us too
            for path in [root, *root.rglob("*")]:
                if path.is_dir() and not path.is_symlink():
                    os.chmod(path, 0o755)
        shutil.rmtree(root)
