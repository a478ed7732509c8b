# One container, the same processes as `make run`: supervisord (PID 1) runs the embedded Redis (only
# when REDIS_URL is unset), Waitress, WORKER_COUNT RQ workers, the maintenance worker and rq-scheduler.
#   docker build -t shap-microservice .
#   docker run -p 10000:10000 -v shapdata:/data --stop-timeout 720 shap-microservice
# --stop-timeout: supervisord stops its program groups one after another; the sum of their stopwaitsecs
# (700 s with JOB_TIMEOUT=600, see supervisord.conf) must fit in it, or Docker kills running jobs.
# Two stages (docs/image.md): `build` installs and trims /opt/venv and lays out /app; the final stage copies
# those two directories onto a fresh base, without pip, caches, tests or the build context.
# BASE: python:3.12-slim. `make image-base` builds an offline stand-in where Docker Hub is unreachable
# (docker build --build-arg BASE=shap-base:bookworm-py312 .); the service is deployed on python:3.12-slim.
ARG BASE=python:3.12-slim

FROM ${BASE} AS build

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /src

# The runtime dependencies of pyproject.toml ([project].dependencies, the pins `make run` installs), in a
# layer of their own so code changes do not reinstall them.
COPY pyproject.toml ./
RUN python -m venv /opt/venv \
    && python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
    && /opt/venv/bin/pip install --no-compile --requirement requirements.txt

# The build context (.dockerignore keeps out tests, bench, docs and the harness). The package itself goes into
# the venv without dependencies (the layer above holds them): its entry points put the operator CLIs
# (shap-diagnose, shap-repair, shap-verify) on PATH. /app gets every package that pyproject's
# [tool.setuptools.packages.find] lists (except devtools), supervisord.conf and scripts/: supervisord's
# programs run that code from /app, their working directory. Then what no import at run time needs goes
# (docs/image.md): plotly and graphviz (catboost's widgets and tree drawing only; `import catboost` loads
# neither), pip itself, test suites, headers, Arrow Flight, Cython sources and the bytecode of modules the
# service never imports (pip writes none: --no-compile); the bytecode of those it does import is written here.
COPY . ./
RUN /opt/venv/bin/pip install --no-compile --no-deps . \
    && /opt/venv/bin/pip uninstall --yes plotly graphviz \
    && /opt/venv/bin/python -m pip uninstall --yes pip \
    && python docker/build_stage.py slim /opt/venv \
    && python docker/build_stage.py app /src /app \
    && PYTHONPATH=/app /opt/venv/bin/python docker/build_stage.py bytecode /opt/venv /app

FROM ${BASE}

# redis-server from Debian for the embedded mode. Versions are not pinned: the base image fixes the
# Debian release and its security updates replace older package versions in the archive.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

WORKDIR /app

COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app

# Bare `supervisorctl` (docker exec) finds /etc/supervisor/supervisord.conf. The service writes only to
# DATA_DIR, owned by the unprivileged user; the home directory points there too.
RUN mkdir -p /etc/supervisor /data \
    && ln -s /app/supervisord.conf /etc/supervisor/supervisord.conf \
    && groupadd --system --gid 10001 shap \
    && useradd --no-log-init --system --uid 10001 --gid 10001 --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin shap \
    && chown 10001:10001 /data

# Every %(ENV_X)s that supervisord.conf expands. scripts/entrypoint.py recomputes them from the settings
# at start; these defaults let supervisord and `docker exec … supervisorctl` (which skips the entrypoint)
# parse the file. DATA_DIR, HOST, PORT and WEB_THREADS are also settings (docs/configuration.md); WORKER_COUNT
# is deliberately not set here so that its default stays the CPU count; REDIS_MAXMEMORY (from REDIS_MAXMEMORY_MB)
# is recomputed at start from the container's cgroup memory limit (1024mb: its value without a limit). HOST: a container listens on
# every interface of its own network namespace (set API_KEY when it is reachable from outside).
# LOG_FORMAT=json: in the container every program logs one JSON object per line (docs/operations.md, Structured logs).
ENV DATA_DIR=/data \
    HOST=0.0.0.0 \
    PORT=10000 \
    WEB_THREADS=16 \
    APP_DIR=/app \
    REDIS_AUTOSTART=true \
    REDIS_MAXMEMORY=1024mb \
    WORKER_NUMPROCS=1 \
    WORKER_STOPWAITSECS=615 \
    WAITRESS_MAX_BODY=209715200 \
    LOG_FORMAT=json

USER 10001:10001
VOLUME ["/data"]
EXPOSE 10000

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/ping' % os.environ.get('PORT', '10000'), timeout=4)"]

CMD ["python", "scripts/entrypoint.py"]
