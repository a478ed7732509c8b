"""Schema fuzzing: schemathesis drives the running service (real Redis, real forking workers) from its own
/openapi.json: every operation, positive and negative data, and stateful sequences along the document's
links (POST /analyze -> GET/DELETE /job_status/{job_id}). Zero 5xx, and every response must conform to the
document (status code, content type, headers, body)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.redis_server import RedisServer
from devtools.stack import Stack

pytestmark = pytest.mark.slow

CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance", "response_headers_conformance",
          "response_schema_conformance", "negative_data_rejection")
KEY = "fuzz-key"
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "60"))  # about two minutes on 2 cores


@pytest.fixture
def fuzzed(tmp_path: Path) -> Iterator[Stack]:
    server = RedisServer(tmp_path / "redis").start()
    # callbacks enabled so callback_url is reachable code; the allowed host never listens
    # with API_KEY: the document describes a keyed deployment (requests without the key must get 401)
    running = Stack(server, env={"API_KEY": KEY, "CALLBACK_SECRET": "fuzz", "CALLBACK_ALLOWED_HOSTS": "127.0.0.1",
                                 "MAX_ROWS": "2000"}).start_web().start_workers(2)
    yield running
    running.stop()
    server.stop()


def test_fuzzing_from_the_document_finds_no_5xx_and_no_nonconforming_answer(fuzzed: Stack, tmp_path: Path):
    """schemathesis (examples, coverage, fuzzing, stateful phases; positive and negative) reports no failure."""
    command = [str(Path(sys.executable).parent / "schemathesis"), "run", f"{fuzzed.base}/openapi.json",
               "-H", f"X-API-KEY: {KEY}",
               "--checks", ",".join(CHECKS), "--phases", "examples,coverage,fuzzing,stateful", "--mode", "all",
               "--max-examples", str(MAX_EXAMPLES), "--seed", "14", "--workers", "2", "--request-timeout", "45",
               "--generation-database", "none", "--suppress-health-check", "too_slow,filter_too_much",
               "--no-color", "--report", "junit", "--report-dir", str(tmp_path / "report")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=tmp_path)  # its cache stays there
    (tmp_path / "schemathesis.out").write_text(done.stdout + done.stderr)
    assert done.returncode == 0, done.stdout[-20000:] + done.stderr[-3000:]
