# causely-incidentio: the operator (`run`), the standalone service and the simulator, in one small image.
#
# Two stages: the builder turns the source into a wheel and installs it with its pinned dependencies into
# a virtualenv; the final stage copies only that virtualenv onto a clean slim Python, so no pip cache,
# source tree or build tooling ships. It runs as UID 10001 and writes nothing outside /tmp, so it works
# with readOnlyRootFilesystem (manifests/deployment.yaml mounts an emptyDir at /tmp).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY operator/ operator/
# Build the project's wheel, then install it with exactly the versions constraints.txt pins.
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip wheel --no-deps --wheel-dir /wheels . \
    && /opt/venv/bin/pip install --constraint constraints.txt /wheels/*.whl \
    && /opt/venv/bin/causely-incidentio --version

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="causely-incidentio" \
      org.opencontainers.image.description="Turns Causely root-cause findings into incident.io incidents" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
RUN groupadd --system --gid 10001 causely \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin causely
COPY --from=builder /opt/venv /opt/venv
USER 10001:10001
# 8080: receiver (/notifications, /healthz, /readyz, /metrics); 8081: kopf liveness (/healthz).
EXPOSE 8080 8081
ENTRYPOINT ["causely-incidentio"]
CMD ["run"]
