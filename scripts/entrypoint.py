#!/usr/bin/env python3
"""Container and `make run` entrypoint: validate settings, compute defaults, prepare DATA_DIR,
then exec supervisord with the repository's supervisord.conf."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

APP_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(APP_DIR))

from common.settings import Settings, SettingsError  # noqa: E402

# stopwaitsecs of every program but the workers (web, scheduler, maintenance, redis, listener)
OTHER_STOPWAITSECS = 10 + 10 + 30 + 30 + 5
WORKER_STOP_GRACE = 15


def environment(settings: Settings) -> dict[str, str]:
    """The values supervisord.conf expands; settings the user left unset get their computed defaults."""
    worker_stop = settings.job_timeout + WORKER_STOP_GRACE
    return {
        "APP_DIR": str(APP_DIR),
        "DATA_DIR": settings.data_dir,
        "PORT": str(settings.port),
        "WEB_THREADS": str(settings.web_threads),
        "WORKER_COUNT": str(settings.worker_count),
        "THREADS_PER_JOB": str(settings.threads_per_job),
        "REDIS_AUTOSTART": "true" if settings.embedded_redis else "false",
        "WORKER_STOPWAITSECS": str(worker_stop),
        "SHUTDOWN_BUDGET_SECONDS": str(worker_stop + OTHER_STOPWAITSECS),
        "WAITRESS_MAX_BODY": str(settings.max_upload_bytes + 1024 * 1024),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def main() -> None:
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"entrypoint: invalid configuration: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if settings.embedded_redis and shutil.which("redis-server") is None:
        print("entrypoint: REDIS_URL is unset but redis-server is not installed", file=sys.stderr)
        raise SystemExit(2)
    for sub in ("redis", "logs"):
        Path(settings.data_dir, sub).mkdir(parents=True, exist_ok=True)
    env = os.environ | environment(settings)
    supervisord = str(Path(sys.executable).parent / "supervisord")
    if not Path(supervisord).exists():
        supervisord = shutil.which("supervisord") or "supervisord"
    print(f"entrypoint: serving http://localhost:{settings.port} (data in {settings.data_dir}, "
          f"{settings.worker_count} workers x {settings.threads_per_job} threads, "
          f"{'embedded' if settings.embedded_redis else 'external'} Redis)", flush=True)
    os.execvpe(supervisord,  # noqa: S606 (exec, no shell: supervisord becomes PID 1)
               [supervisord, "-n", "-c", str(APP_DIR / "supervisord.conf")], env)


if __name__ == "__main__":
    main()
