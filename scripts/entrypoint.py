#!/usr/bin/env python3
"""Container and `make run` entrypoint: validate settings, compute defaults, prepare DATA_DIR,
then exec supervisord with the repository's supervisord.conf."""

from __future__ import annotations

import configparser
import errno
import os
import shutil
import socket
import sys
from collections.abc import Mapping
from pathlib import Path

from common import metrics
from common.settings import Settings, SettingsError  # the package is installed (pip install .), not on a path

APP_DIR = Path(__file__).resolve().parent.parent
CONFIG = APP_DIR / "supervisord.conf"

# A job accepted just before SIGTERM may run JOB_TIMEOUT seconds; then RQ ends it and the worker records
# the outcome and exits. The grace covers that last step.
WORKER_STOP_GRACE = 15
SUPERVISOR_DEFAULT_STOPWAITSECS = 10  # supervisord's own default


def environment(settings: Settings) -> dict[str, str]:
    """The values supervisord.conf expands; settings the user left unset get their computed defaults."""
    env = {
        "APP_DIR": str(APP_DIR),
        "DATA_DIR": settings.data_dir,
        "HOST": settings.effective_host,
        "PORT": str(settings.port),
        "WEB_THREADS": str(settings.web_threads),
        "WORKER_COUNT": str(settings.worker_count),
        "WORKER_NUMPROCS": str(settings.worker_count),
        "THREADS_PER_JOB": str(settings.threads_per_job),
        "REDIS_AUTOSTART": "true" if settings.embedded_redis else "false",
        "REDIS_MAXMEMORY": f"{settings.redis_maxmemory_mb}mb",
        "WORKER_STOPWAITSECS": str(settings.job_timeout + WORKER_STOP_GRACE),
        "WAITRESS_MAX_BODY": str(settings.waitress_max_body),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        metrics.ENV: str(metrics.directory(settings.data_dir)),  # GET /metrics merges every program's samples
    }
    env["SHUTDOWN_BUDGET_SECONDS"] = str(shutdown_budget(env))
    return env


def shutdown_budget(env: Mapping[str, str], config: Path = CONFIG) -> int:
    """Most seconds supervisord takes to stop after SIGTERM: it stops one program group after another
    (highest priority first) and waits up to that group's stopwaitsecs for each, so the budget is their sum."""
    parser = configparser.RawConfigParser()
    parser.read(config)
    expansions = {f"ENV_{key}": value for key, value in env.items()}
    return sum(int(parser.get(section, "stopwaitsecs", fallback=str(SUPERVISOR_DEFAULT_STOPWAITSECS)) % expansions)
               for section in parser.sections() if section.startswith(("program:", "eventlistener:")))


def prepare_data_dir(data_dir: Path) -> None:
    """Create DATA_DIR's sub-directories; stop with a clear message when this user cannot write there
    (in the container: a bind mount or volume not owned by the image's uid)."""
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if data_dir.stat().st_uid == os.getuid():
            data_dir.chmod(0o700)  # it holds every dataset and result: this user's only
        for path in (data_dir / "redis", data_dir / "logs"):
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        metrics.reset(str(data_dir))  # this run's samples only (every program writes its own there)
        for path in (data_dir, data_dir / "redis", data_dir / "logs", metrics.directory(str(data_dir))):
            if not os.access(path, os.W_OK | os.X_OK):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
    except PermissionError as exc:
        print(f"entrypoint: DATA_DIR is not writable by uid {os.getuid()}: {exc.filename}; "
              "give the directory to that user or set DATA_DIR elsewhere", file=sys.stderr)
        raise SystemExit(2) from None


def can_listen(host: str, port: int) -> str | None:
    """Why the web could not listen on host:port (taken, or no such address), or None. supervisord would
    otherwise restart a web that exits at once, again and again: it loads the app for over a second, so
    each exit counts as a run, not as a failed start, and nothing names PORT or HOST."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]  # an IPv6 HOST binds IPv6
        with socket.create_server((host, port), family=family):
            return None
    except OSError as exc:
        return f"cannot listen on {host}:{port} ({exc.strerror or exc}); set PORT (or HOST) to a free address"


def main() -> None:
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"entrypoint: invalid configuration: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if settings.embedded_redis and shutil.which("redis-server") is None:
        print("entrypoint: REDIS_URL is unset but redis-server is not installed", file=sys.stderr)
        raise SystemExit(2)
    refused = can_listen(settings.effective_host, settings.port)
    if refused:
        print(f"entrypoint: {refused}", file=sys.stderr)
        raise SystemExit(2)
    os.umask(0o077)  # files the service creates (Redis's append-only files, logs) are this user's only
    prepare_data_dir(Path(settings.data_dir))
    env = os.environ | environment(settings)
    supervisord = str(Path(sys.executable).parent / "supervisord")
    if not Path(supervisord).exists():
        supervisord = shutil.which("supervisord") or "supervisord"
    if settings.api_key is None:
        print(f"entrypoint: WARNING: no API_KEY is set, so anyone who can reach {settings.effective_host}:"
              f"{settings.port} can use every endpoint; set API_KEY before exposing the service", flush=True)
    print(f"entrypoint: serving http://{settings.effective_host}:{settings.port} (data in {settings.data_dir}, "
          f"{settings.worker_count} workers x {settings.threads_per_job} threads, "
          f"{'embedded' if settings.embedded_redis else 'external'} Redis, "
          f"shutdown budget {env['SHUTDOWN_BUDGET_SECONDS']} s)", flush=True)
    os.execvpe(supervisord,  # noqa: S606 (exec, no shell: supervisord becomes PID 1)
               [supervisord, "-n", "-c", str(CONFIG)], env)


if __name__ == "__main__":
    main()
