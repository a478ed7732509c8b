"""Settings: read once, validated with messages naming the variable, every one documented."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from dataclasses import fields

import pytest

from common.settings import SETTINGS, Settings, SettingsError, markdown_table
from devtools.environment import REPO


def test_defaults_are_the_promised_ones() -> None:
    """With an empty environment every setting takes the default docs/configuration.md promises."""
    settings = Settings.from_env({})
    assert settings.port == 10000
    assert settings.redis_url is None and settings.embedded_redis
    assert settings.redis_timeout == 5 and settings.redis_socket_keepalive is True
    assert settings.redis_connection_pool_size == 10 and settings.redis_health_check_interval == 30
    assert settings.queue_name == "shap-jobs"
    assert settings.job_timeout == 600 and settings.job_retries == 2 and settings.cleanup_interval == 60
    assert settings.aggressive_memory_management is False
    assert settings.worker_count >= 1 and settings.threads_per_job >= 1
    assert 0 < settings.failure_ttl < 365 * 24 * 3600


def test_threads_per_job_divides_cpus_between_workers() -> None:
    """THREADS_PER_JOB defaults to CPUs / WORKER_COUNT and never drops below 1."""
    assert Settings.from_env({"WORKER_COUNT": "1000"}).threads_per_job == 1


def test_embedded_redis_url_lives_in_data_dir(tmp_path) -> None:
    """Without REDIS_URL the clients use the unix socket in DATA_DIR."""
    settings = Settings.from_env({"DATA_DIR": str(tmp_path)})
    assert settings.effective_redis_url == f"unix://{tmp_path}/redis.sock"


@pytest.mark.parametrize(("name", "value"), [
    ("PORT", "eighty"), ("PORT", "70000"), ("REDIS_TIMEOUT", "0"), ("REDIS_SOCKET_KEEPALIVE", "maybe"),
    ("WORKER_COUNT", "0"), ("JOB_RETRIES", "-1"), ("REDIS_URL", "http://x"), ("LOG_LEVEL", "LOUD"),
    ("QUEUE_NAME", "two words"), ("AGGRESSIVE_MEMORY_MANAGEMENT", "sometimes"), ("MAX_UPLOAD_MB", "-3"),
    ("CALLBACK_ALLOWED_HOSTS", "hooks.example.com, http://x"), ("CALLBACK_ALLOWED_HOSTS", "*."),
    ("CALLBACK_TIMEOUT", "0"), ("CALLBACK_RETRIES", "-2"), ("CALLBACK_SECRET", "  "), ("LOG_FORMAT", "xml"),
    ("PORT", "\u0663\u0660\u0660\u0660"), ("WORKER_COUNT", "1_0"), ("MAX_UPLOAD_MB", "inf"), ("REDIS_TIMEOUT", "nan"),
    ("CALLBACK_ALLOWED_HOSTS", "hooks.example.com:8443"), ("CALLBACK_ALLOWED_HOSTS", "hooks.example.com."),
    ("DATA_DIR", "/tmp/with space"), ("DEFAULT_DATASET_PATH", "/nonexistent/areas.csv"),
])
def test_invalid_value_is_refused_naming_the_variable(name: str, value: str) -> None:
    """An invalid value raises SettingsError whose message names the variable and the value."""
    with pytest.raises(SettingsError, match=re.escape(name)) as caught:
        Settings.from_env({name: value})
    assert repr(value) in str(caught.value)


def test_ip_literals_are_allowed_hosts() -> None:
    """An IPv6 literal holds colons and is no host with a port."""
    settings = Settings.from_env({"CALLBACK_ALLOWED_HOSTS": "::1, 127.0.0.1"})
    assert settings.callback_allowed_hosts == ("::1", "127.0.0.1")


def test_every_problem_is_reported_at_once() -> None:
    """Several invalid variables are all named in one message."""
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"PORT": "x", "JOB_TIMEOUT": "y"})
    assert "PORT" in str(caught.value) and "JOB_TIMEOUT" in str(caught.value)


def test_stuck_timeout_must_exceed_job_timeout() -> None:
    """STUCK_JOB_TIMEOUT below JOB_TIMEOUT is refused."""
    with pytest.raises(SettingsError, match="STUCK_JOB_TIMEOUT"):
        Settings.from_env({"JOB_TIMEOUT": "100", "STUCK_JOB_TIMEOUT": "50"})


def test_callback_timeout_is_a_few_seconds_at_most() -> None:
    """CALLBACK_TIMEOUT above 30 s is refused; the host list is parsed lower-cased."""
    with pytest.raises(SettingsError, match="CALLBACK_TIMEOUT"):
        Settings.from_env({"CALLBACK_TIMEOUT": "31"})
    parsed = Settings.from_env({"CALLBACK_ALLOWED_HOSTS": "Hooks.Example.com, *.corp.example"})
    assert parsed.callback_allowed_hosts == ("hooks.example.com", "*.corp.example")


def test_every_setting_has_a_spec_entry() -> None:
    """The table of settings and the Settings fields are the same list."""
    assert [spec.field for spec in SETTINGS] == [f.name for f in fields(Settings)]


CONFIGURATION_PAGE = REPO / "docs" / "configuration.md"


def test_every_setting_is_documented_in_the_configuration_page() -> None:
    """Each setting has a row in the configuration table of docs/configuration.md."""
    page = CONFIGURATION_PAGE.read_text()
    rows = set(re.findall(r"^\| `([A-Z_]+)` \|", page, flags=re.MULTILINE))
    missing = [spec.name for spec in SETTINGS if spec.name not in rows]
    assert not missing, f"undocumented settings: {missing}"


def test_configuration_page_table_is_generated_from_the_settings() -> None:
    """docs/configuration.md holds exactly the table `python -m common.settings --markdown` prints (regenerate it
    so), once: no other copy of it can drift, in that page or in the README."""
    page = CONFIGURATION_PAGE.read_text()
    start = page.index("| variable | default | meaning |")
    assert page[start:start + len(markdown_table())] == markdown_table()
    rest = page[start + len(markdown_table()):]
    assert rest == "" or rest.startswith("\n"), "docs/configuration.md's table has rows SETTINGS lacks"
    assert page.count("| variable | default | meaning |") == 1
    assert "| variable | default | meaning |" not in (REPO / "README.md").read_text(), \
        "the README restates the configuration table: it lives in docs/configuration.md"


def test_settings_command_prints_the_table() -> None:
    """`python -m common.settings --markdown` prints the configuration table."""
    done = subprocess.run([sys.executable, "-m", "common.settings", "--markdown"], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == markdown_table()


def test_entrypoint_stops_when_the_port_is_taken(tmp_path) -> None:
    """A PORT another process listens on: exit 2 naming PORT, before supervisord starts (it restarted the
    web without end, never saying why)."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, str(REPO / "scripts" / "entrypoint.py")],
                              env={"PATH": "/usr/bin:/bin", "DATA_DIR": str(tmp_path), "PORT": str(port)},
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "PORT" in done.stderr
    assert not (tmp_path / "supervisord.pid").exists()


def test_entrypoint_stops_on_invalid_setting(tmp_path) -> None:
    """scripts/entrypoint.py exits non-zero, naming the variable, before starting anything."""
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "entrypoint.py")],
                          env={"PATH": "/usr/bin:/bin", "DATA_DIR": str(tmp_path), "WORKER_COUNT": "lots"},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "WORKER_COUNT" in done.stderr
    assert not (tmp_path / "supervisord.pid").exists()
