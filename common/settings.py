"""Settings: read once from the environment, validated, typed; each defined once, with its documentation."""

from __future__ import annotations

import hmac
import ipaddress
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class SettingsError(ValueError):
    """One or more environment variables hold an invalid value."""


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError("expected one of true/false/1/0/yes/no/on/off")


def _whole(raw: str) -> int:
    """Digits 0-9 only: Python's int() also reads `1_0` as 10 and other scripts' digits, which no reader of
    the configuration would take for the number."""
    text = raw.strip()
    digits = text.removeprefix("-")
    if not (digits.isascii() and digits.isdigit()):
        raise ValueError("must be a whole number written with the digits 0-9")
    return int(text)


def _positive_int(raw: str) -> int:
    value = _whole(raw)
    if value < 1:
        raise ValueError("must be a whole number >= 1")
    return value


def _non_negative_int(raw: str) -> int:
    value = _whole(raw)
    if value < 0:
        raise ValueError("must be a whole number >= 0")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not (value > 0 and math.isfinite(value)):  # inf overflows every timeout and size it reaches
        raise ValueError("must be a finite number > 0")
    return value


def _port(raw: str) -> int:
    value = _whole(raw)
    if not 1 <= value <= 65535:
        raise ValueError("must be a TCP port between 1 and 65535")
    return value


def _log_level(raw: str) -> str:
    value = raw.strip().upper()
    if value not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
    return value


def _log_format(raw: str) -> str:
    value = raw.strip().lower()
    if value not in {"json", "text"}:
        raise ValueError("must be json or text")
    return value


def _text(raw: str) -> str:
    if not raw.strip():
        raise ValueError("must not be empty")
    return raw.strip()


def _queue_name(raw: str) -> str:
    value = _text(raw)
    if any(c.isspace() for c in value):
        raise ValueError("must not contain white space")
    return value


def _redis_url(raw: str) -> str:
    value = _text(raw)
    if not value.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("must start with redis://, rediss:// or unix://")
    return value


def _host_patterns(raw: str) -> tuple[str, ...]:
    """Comma-separated host names (`api.example.com`), `*.example.com` for any subdomain, or IP literals."""
    patterns = tuple(part.strip().lower() for part in raw.split(",") if part.strip())
    for pattern in patterns:
        name = pattern.removeprefix("*.")
        if not name or not all(c.isalnum() or c in ".-:" for c in name) or name.startswith((".", "-")) \
                or name.endswith("."):
            raise ValueError(f"{pattern!r} is not a host name, *.domain or IP address")
        if ":" in name and not _is_ip(name):  # a URL's host is matched without its port
            raise ValueError(f"{pattern!r} names a port; give the host alone (any port of it is allowed)")
    return patterns


def _origins(raw: str) -> tuple[str, ...]:
    """Comma-separated exact origins (`https://app.example.com`, `http://localhost:5173`), or `*` alone."""
    origins = tuple(part.strip() for part in raw.split(",") if part.strip())
    if "*" in origins and len(origins) > 1:
        raise ValueError("`*` stands alone: it already allows every origin")
    for origin in origins:
        if origin == "*":
            continue
        scheme, _, rest = origin.partition("://")
        if scheme not in ("http", "https") or not rest or any(c in rest for c in "/?#*@ "):
            raise ValueError(f"{origin!r} is not an origin: scheme://host[:port], no path, no wildcard")
    return origins


def _keys(raw: str) -> tuple[str, ...]:
    """Comma-separated keys; blanks between commas are dropped."""
    keys = tuple(part.strip() for part in raw.split(",") if part.strip())
    if not keys:
        raise ValueError("must name at least one key")
    return keys


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _path(raw: str) -> str:
    return str(Path(_text(raw)).expanduser().absolute())


def _directory(raw: str) -> str:
    value = _path(raw)
    if any(c.isspace() for c in value):  # supervisord and redis-server split their command lines on it
        raise ValueError("must not contain white space")
    return value


def _readable_file(raw: str) -> str:
    value = _path(raw)
    if not os.access(value, os.R_OK) or not Path(value).is_file():
        raise ValueError("must name a readable file (it is read at every start)")
    return value


@dataclass(frozen=True)
class SettingSpec:
    """How one setting is read: its variable, parser, default (a value, or a function of the settings
    read before it) and the documentation docs/configuration.md's table is generated from."""

    name: str
    field: str
    parse: Callable[[str], Any]
    default: Any
    doc: str
    shown_default: str | None = None  # the documentation's words for a computed default

    def default_text(self) -> str:
        if self.shown_default is not None:
            return self.shown_default
        if self.default is None:
            return "unset"
        if isinstance(self.default, bool):
            return str(self.default).lower()
        if isinstance(self.default, float) and self.default.is_integer():
            return str(int(self.default))
        return str(self.default)


def _setting(parse: Callable[[str], Any], default: Any, doc: str, shown_default: str | None = None, *,
             secret: bool = False) -> Any:
    """A Settings field, defined once: its environment variable is the field's name in capitals. A `secret`
    is left out of the repr: a logged or printed Settings never shows it."""
    return field(metadata={"parse": parse, "default": default, "doc": doc, "shown_default": shown_default},
                 repr=not secret)


@dataclass(frozen=True)
class Settings:
    """Every setting of the service, with its parser, default and documentation; build it with :meth:`from_env`."""

    host: str | None = _setting(_text, None, "Address the web listens on. Unset: 0.0.0.0 (all interfaces) when "
                                "API_KEY is set, else 127.0.0.1 only; the service logs a warning when it serves "
                                "without a key.", "127.0.0.1, or 0.0.0.0 with API_KEY (0.0.0.0 in the container)")
    port: int = _setting(_port, 10000, "HTTP port of the web process.")
    api_key: str | None = _setting(_text, None, "When set, every endpoint but /ping, /health, /openapi.json and "
                                   "/docs requires header X-API-KEY with this value or an analyst key; this key "
                                   "has every right (admin).", secret=True)
    analyst_api_keys: tuple[str, ...] = _setting(_keys, (), "Comma-separated keys of the analyst role (for a "
                                                 "browser app): list and read datasets, submit, poll, cancel and "
                                                 "read analyses; not upload, label or delete datasets, nor "
                                                 "/admin/*, /metrics, /worker-status (403 forbidden). Needs "
                                                 "API_KEY.", "empty", secret=True)
    cors_origins: tuple[str, ...] = _setting(_origins, (), "Comma-separated exact origins (scheme://host[:port]) "
                                             "whose pages may call the API from a browser (CORS); empty grants "
                                             "none. `*` allows every origin and is refused without API_KEY.",
                                             "empty")
    redis_url: str | None = _setting(_redis_url, None, "External Redis (redis://, rediss://, unix://). Unset: an "
                                     "embedded Redis on a unix socket in DATA_DIR.")
    redis_maxmemory_mb: int = _setting(_non_negative_int, lambda v: _default_redis_maxmemory_mb(), "maxmemory of the "
                                       "embedded Redis in MiB (0: none). From 90 % of it (of any Redis's maxmemory) "
                                       "new uploads, analyses and renders are refused with 507 insufficient_storage, "
                                       "so RQ's own writes always find room.", "40 % of the container's memory "
                                       "limit (cgroup); 1024 without a limit")
    redis_timeout: float = _setting(_positive_float, 5.0, "Seconds for a Redis connect or command before the web "
                                    "answers 503.")
    redis_socket_keepalive: bool = _setting(_bool, True, "TCP keepalive on Redis connections.")
    redis_connection_pool_size: int = _setting(_positive_int, 10, "Most Redis connections the web process holds.")
    redis_health_check_interval: int = _setting(_non_negative_int, 30, "Seconds of idleness after which a pooled "
                                                "connection is PINGed before use.")
    queue_name: str = _setting(_queue_name, "shap-jobs", "RQ queue of analysis jobs; the cleanup uses "
                               "QUEUE_NAME-maintenance.")
    worker_count: int = _setting(_positive_int, lambda v: _cpu_count(), "Analysis worker processes per container.",
                                 "CPU count")
    threads_per_job: int = _setting(_positive_int, lambda v: max(1, _cpu_count() // v.get("worker_count", 1)),
                                    "CatBoost threads per job.", "CPUs ÷ WORKER_COUNT, ≥ 1")
    web_threads: int = _setting(_positive_int, 16, "Waitress threads (a long poll holds one).")
    job_timeout: int = _setting(_positive_int, 600, "Seconds an analysis may run before RQ fails it.")
    job_retries: int = _setting(_non_negative_int, 2, "Times a job whose worker died is requeued before it is "
                                "failed.")
    result_ttl: int = _setting(_positive_int, 86400, "Seconds a finished job and its result are kept.")
    failure_ttl: int = _setting(_positive_int, 604800, "Seconds a failed job is kept (finite, so Redis does not "
                                "grow forever).")
    cleanup_interval: int = _setting(_positive_int, 60, "Seconds between scheduled cleanups.")
    stuck_job_timeout: int = _setting(_positive_int, lambda v: v.get("job_timeout", 600) + 120,
                                      "Seconds after which the cleanup stops a job that is still running.",
                                      "JOB_TIMEOUT + 120")
    max_upload_mb: float = _setting(_positive_float, 50.0, "Largest request body (dataset upload or analysis) in "
                                    "MiB; larger gets 413 upload_too_large. A CSV of 100,000 rows x 134 columns is "
                                    "about 85 MiB: set 100 to upload it.")
    max_dataset_mb: float = _setting(_positive_float, 256.0, "Largest table an uploaded dataset may decode to, in "
                                     "MiB: 8 bytes per cell plus the bytes of its text, whatever the file's "
                                     "encoding (Parquet dictionaries, run lengths, compression). Checked before "
                                     "and while the upload is decoded, never after: larger is a 413 "
                                     "dataset_too_large. The default holds 100,000 rows x 134 numeric columns "
                                     "(102 MiB) with room; the web grows by at most about 5x this plus 250 MB "
                                     "while it stores an upload (docs/hostile-input.md).")
    max_rows: int = _setting(_positive_int, 100000, "Most rows in a dataset and most rows one analysis explains "
                             "(also the default sample_size).")
    interaction_max_rows: int = _setting(_positive_int, 2000, "Most rows an interactions analysis explains (its "
                                         "values cost rows x features^2); more selected rows are sampled, "
                                         "seeded, and its warnings say so.")
    what_if_max_cells: int = _setting(_positive_int, 5_000_000, "Most values of a what-if's per-row parts: "
                                      "scenarios x explained rows x features (each scenario returns per-row SHAP "
                                      "values and their changes); more is a 400 that says to send fewer scenarios "
                                      "or a smaller sample_size. The default fits 10 scenarios on 1,700 rows of 131 "
                                      "features (about 2.2 million).")
    shap_batch_size: int = _setting(_positive_int, 5000, "Rows per SHAP batch: one Pool, then leaf indexing and "
                                    "the gather (or one native `ShapValues` call).")
    aggressive_memory_management: bool = _setting(_bool, False, "Smaller SHAP batches (at most 1000 rows) and "
                                                  "float32 feature frames, for small instances.")
    kept_shap_mb: int = _setting(_non_negative_int, 128, "Most MiB of every-row SHAP values (float64) each "
                                 "analysis worker keeps in memory between jobs, for all the models it keeps: "
                                 "after a job, its model's values for every row of its dataset are computed once "
                                 "when they fit (the least recently used models lose theirs first), and a warm "
                                 "analysis takes its rows' values from them instead of computing them. The "
                                 "default fits 100,000 rows x 132 features (101.5 MiB); each worker's memory "
                                 "grows by up to this much (docs/how-it-works.md). 0: none kept, every analysis "
                                 "computes its rows' values (about 1 s per 100,000 rows x 132 features on one "
                                 "core). Not used under AGGRESSIVE_MEMORY_MANAGEMENT.")
    data_dir: str = _setting(_directory, lambda v: _path("./data"), "Embedded Redis data, supervisord socket, pid file "
                             "and logs.", "./data (/data in the container)")
    default_dataset_path: str | None = _setting(_readable_file, None, "A CSV that replaces the built-in `default` "
                                                "dataset at start-up.")
    log_level: str = _setting(_log_level, "INFO", "Log level of every process.")
    log_format: str = _setting(_log_format, "text", "json: one JSON object per line (ts, level, process, logger, "
                               "message, job_id and request_id when known); text: one readable line. The image "
                               "sets json.")
    worker_name: str | None = _setting(_text, None, "First name a worker tries (diagnostics and tests); when a "
                                       "live worker holds it, a fresh unique name is used.")
    result_reuse: bool = _setting(_bool, True, "Answer an analysis identical to a finished one (same dataset "
                                  "version and request) with the latest stored result of that analysis instead "
                                  "of computing it again; a request with \"reuse\": false always computes (and "
                                  "its result then answers later identical requests).")
    model_lock_ttl: float = _setting(_positive_float, 30.0, "Seconds a model-training lock outlives its holder: "
                                     "the training job renews it every third of this; when the job's process "
                                     "dies, another job may train the model this long after.")
    callback_secret: str | None = _setting(_text, None, "Key of the HMAC-SHA256 signature (`X-Signature`) of "
                                           "completion callbacks; unset: `POST /analyze` refuses `callback_url`.",
                                           secret=True)
    callback_allowed_hosts: tuple[str, ...] = _setting(_host_patterns, (), "Comma-separated hosts a "
                                                       "`callback_url` may name (`*.example.com` for its subdomains, "
                                                       "or IP addresses); empty: callbacks refused.", "empty")
    callback_timeout: float = _setting(_positive_float, 5.0, "Seconds one callback attempt may take in all: "
                                       "connect, status line, headers and body (a receiver that trickles its "
                                       "answer is cut off there, and the attempt is logged and retried like any "
                                       "failure); at most 30. The scheduled cleanup, which shares the maintenance "
                                       "worker, starts at most this plus a second late.")
    callback_retries: int = _setting(_non_negative_int, 5, "Further attempts after a callback fails (non-2xx or "
                                     "no answer), after 1, 2, 4, ... seconds (at most 60 each).")
    plot_queue_per_job: int = _setting(_positive_int, 8, "Most plot renders queued or running for one analysis; "
                                       "a request for another plot of it is a 429 too_many_renders with "
                                       "Retry-After (a request for a plot already being drawn shares that render).")
    plot_queue_max: int = _setting(_positive_int, 64, "Most plot renders queued or running in all; beyond it a "
                                   "new plot is a 429 too_many_renders with Retry-After. Analyses go first "
                                   "either way: the workers take renders only when no analysis waits.")
    finished_answers_mb: int = _setting(_non_negative_int, 32, "MiB of finished analyses' whole JSON answers each "
                                        "web process keeps, so a result read again is sent without being written "
                                        "again (none larger than 8 MiB; least recently read out first; each kept "
                                        "answer is served only after Redis confirms its job and result still "
                                        "exist). 0 keeps none: every read writes the answer from the rows table.")
    long_poll_limit: int | None = _setting(_positive_int, None, "Most GET /job_status?wait= requests that wait at "
                                           "once; below WEB_THREADS, so /ping and plain polls always find a thread. "
                                           "A poll beyond it answers the job's current state at once.",
                                           "WEB_THREADS ÷ 2")

    @property
    def embedded_redis(self) -> bool:
        """True when no REDIS_URL is given and the container runs its own Redis."""
        return self.redis_url is None

    @property
    def effective_redis_url(self) -> str:
        return self.redis_url or f"unix://{self.data_dir}/redis.sock"

    @property
    def maintenance_queue_name(self) -> str:
        return f"{self.queue_name}-maintenance"

    @property
    def callback_queue_name(self) -> str:
        return f"{self.queue_name}-callbacks"

    @property
    def plots_queue_name(self) -> str:
        """Plot renders (worker.plot_job), served by the analysis workers after their analyses."""
        return f"{self.queue_name}-plots"

    @property
    def effective_host(self) -> str:
        """The address the web listens on: HOST, else all interfaces with an API_KEY, else 127.0.0.1 only
        (a service without a key is not offered to the network by default)."""
        return self.host or ("0.0.0.0" if self.api_key else "127.0.0.1")  # noqa: S104 (with a key only)

    @property
    def effective_long_poll_limit(self) -> int:
        """Most requests that long-poll at once: LONG_POLL_LIMIT, by default half of WEB_THREADS."""
        return self.long_poll_limit or self.web_threads // 2  # 0 with one thread: no poll waits

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_dataset_bytes(self) -> int:
        return int(self.max_dataset_mb * 1024 * 1024)

    @property
    def waitress_max_body(self) -> int:
        """Waitress's own body limit, set above the app's so that the app answers a body over MAX_UPLOAD_MB with
        its JSON 413 upload_too_large: 4 x MAX_UPLOAD_MB, at least MAX_UPLOAD_MB + 64 MiB. Waitress reads a
        body before the app sees it, so a larger one is refused by Waitress itself (plain text) unread."""
        return max(4 * self.max_upload_bytes, self.max_upload_bytes + 64 * 2**20)

    @property
    def kept_shap_bytes(self) -> int:
        return self.kept_shap_mb * 2**20

    @property
    def effective_shap_batch_size(self) -> int:
        if self.aggressive_memory_management:
            return max(1, min(self.shap_batch_size, 1000))
        return self.shap_batch_size

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate every setting; raise SettingsError naming each bad variable."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        problems: list[str] = []
        for spec in SETTINGS:
            raw = env.get(spec.name)
            if raw is None or raw == "":
                values[spec.field] = spec.default(values) if callable(spec.default) else spec.default
                continue
            try:
                values[spec.field] = spec.parse(raw)
            except ValueError as exc:
                problems.append(f"{spec.name}={raw!r} is invalid: {exc}")
        if not problems:
            problems.extend(_cross_checks(values))
        if problems:
            raise SettingsError("; ".join(problems))
        return cls(**values)


def _cross_checks(values: dict[str, Any]) -> list[str]:
    problems = []
    if values["stuck_job_timeout"] <= values["job_timeout"]:
        problems.append("STUCK_JOB_TIMEOUT must be greater than JOB_TIMEOUT")
    if values["callback_timeout"] > MAX_CALLBACK_TIMEOUT:
        problems.append(f"CALLBACK_TIMEOUT must be at most {MAX_CALLBACK_TIMEOUT:g} seconds")
    if values["long_poll_limit"] is not None and values["long_poll_limit"] >= values["web_threads"]:
        problems.append("LONG_POLL_LIMIT must be below WEB_THREADS, so /ping and plain polls always find a thread")
    return problems + _key_checks(values)


def _key_checks(values: dict[str, Any]) -> list[str]:
    """Keys and origins that only make sense together."""
    problems = []
    if values["analyst_api_keys"] and values["api_key"] is None:
        problems.append("ANALYST_API_KEYS needs API_KEY: without it every endpoint is open and an analyst key "
                        "restricts nothing; set API_KEY (the admin key) too")
    admin = values["api_key"]
    if admin is not None and any(hmac.compare_digest(admin.encode(), key.encode())
                                 for key in values["analyst_api_keys"]):
        problems.append("ANALYST_API_KEYS must not hold API_KEY: one key cannot have two roles")
    if "*" in values["cors_origins"] and values["api_key"] is None:
        problems.append("CORS_ORIGINS=* needs API_KEY: without a key, every page a user opens could drive the "
                        "service; set API_KEY or list the front end's exact origins")
    return problems


MAX_CALLBACK_TIMEOUT = 30.0  # a receiver that needs longer should answer first and work afterwards


CGROUP_MEMORY_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")  # v2, v1
REDIS_SHARE_OF_CONTAINER = 0.4  # the rest: web, workers (a model and a job's matrices each), page cache
REDIS_MAXMEMORY_WITHOUT_LIMIT_MB = 1024


def container_memory_limit() -> int | None:
    """The container's memory limit in bytes (cgroup v2, else v1), None when there is none: the host's RAM is
    not what the container may use."""
    for path in CGROUP_MEMORY_LIMITS:
        try:
            with open(path) as found:
                text = found.read().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 2**60:  # v1 writes a huge number for "no limit", v2 "max"
            return int(text)
    return None


def _default_redis_maxmemory_mb() -> int:
    limit = container_memory_limit()
    if limit is None:
        return REDIS_MAXMEMORY_WITHOUT_LIMIT_MB
    return max(64, int(limit * REDIS_SHARE_OF_CONTAINER / 2**20))


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


# Every setting in the order it is read (a computed default may use the settings before it).
SETTINGS: tuple[SettingSpec, ...] = tuple(SettingSpec(f.name.upper(), f.name, **f.metadata) for f in fields(Settings))


def markdown_table() -> str:
    """docs/configuration.md's table, generated from SETTINGS (a test checks that page holds it)."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    rows += [f"| `{spec.name}` | {spec.default_text()} | {spec.doc} |" for spec in SETTINGS]
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["--markdown"]:
        raise SystemExit("usage: python -m common.settings --markdown  (prints docs/configuration.md's table)")
    print(markdown_table(), end="")
