# Quorra: one image for quorra-server, quorra-worker and quorractl.
#   docker build -t quorra:0.1.0 .
#   docker run -p 8080:8080 -p 50051:50051 -e DATABASE_URL=… -e QUORRA_API_KEY=… quorra:0.1.0

# --- build: install Quorra and its dependencies into a virtualenv ---------------------------
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/quorra
COPY pyproject.toml README.md ./
COPY quorra ./quorra
RUN /opt/quorra/bin/pip install . && /opt/quorra/bin/python -m compileall -q /opt/quorra

# --- runtime: the virtualenv only, run as an unprivileged user --------------------------------
FROM python:3.11-slim AS runtime
RUN groupadd --system --gid 10001 quorra \
 && useradd --system --uid 10001 --gid quorra --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin quorra
COPY --from=build /opt/quorra /opt/quorra
ENV PATH=/opt/quorra/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    QUORRA_HTTP_ADDR=:8080 \
    QUORRA_GRPC_ADDR=:50051
USER 10001:10001
WORKDIR /tmp
# 8080: REST API, dashboard, /healthz, /readyz, /metrics; 50051: gRPC worker protocol
EXPOSE 8080 50051
CMD ["quorra-server"]
