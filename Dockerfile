# syntax=docker/dockerfile:1
#
# The reconciler daemon (`reconciler run`) for Kubernetes (helm/) or any
# container runtime. Built in two stages so that the final image carries the
# installed package and nothing used to build it.
#
#   docker build -t ecs-gitops-reconciler .
#   docker run --read-only --tmpfs /tmp --tmpfs /data ecs-gitops-reconciler \
#       --repo https://git.example.com/platform/ecs.git
#
# It writes only to /data (the --data-dir: the clone, caches) and /tmp, so it
# runs with a read-only root filesystem.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
# Only what the wheel is made of, so edits to tests or docs reuse this layer.
COPY pyproject.toml README.md ./
COPY reconciler ./reconciler
# Wheels of the reconciler and of everything it depends on; the final stage
# installs from these alone, without an index or a compiler.
RUN pip wheel --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
ARG UID=10001
# A numeric user, so that Kubernetes can check runAsNonRoot without a passwd
# lookup. HOME and the XDG folders point into /data and /tmp, the only places
# the process may write; Python keeps its bytecode in memory.
ENV HOME=/data \
    XDG_CONFIG_HOME=/data/.config \
    XDG_CACHE_HOME=/tmp/.cache \
    XDG_DATA_HOME=/data/.local/share \
    XDG_STATE_HOME=/data/.local/state \
    TMPDIR=/tmp \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN groupadd --gid "${UID}" reconciler \
    && useradd --uid "${UID}" --gid "${UID}" --no-create-home --home-dir /data \
        --shell /usr/sbin/nologin reconciler \
    && mkdir /data \
    && chown "${UID}:${UID}" /data
# The wheels are mounted for this step only, so no layer keeps them.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels /wheels/ecs_gitops_reconciler-*.whl
WORKDIR /data
VOLUME ["/data"]
USER ${UID}:${UID}
EXPOSE 8080 9000
ENTRYPOINT ["reconciler", "run"]
CMD ["--help"]
