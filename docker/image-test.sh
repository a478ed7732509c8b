#!/usr/bin/env bash
# `make image-test`: build the Dockerfile and run tests/image/test_image.py against real containers.
#   - a missing `docker.io` is installed (as root: apt-get); without it or a working engine the test is
#     skipped outside CI and fails under CI=true;
#   - dockerd is started only if no engine answers (--bridge=none --iptables=false: containers use the host's
#     network) and only that one is stopped at the end;
#   - the base: IMAGE_BASE if set, else python:3.12-slim (present or pulled), else the offline stand-in
#     (docker/standin-base.sh, cached as shap-base:bookworm-py312 on this machine). docs/image.md.
set -euo pipefail
cd "$(dirname "$0")/.."

image=${IMAGE:-shap-microservice:image-test}
standin=${STANDIN_BASE:-shap-base:bookworm-py312}
python=${PYTEST_PYTHON:-.venv/bin/python}
in_ci=false; [ "${CI:-}" = "true" ] && in_ci=true
started=$(date +%s)

unavailable() {  # no Docker engine: skipped by hand, an error in CI
  if $in_ci; then echo "image-test: FAILED: $1 (CI=true requires the image test)" >&2; exit 1; fi
  echo "image-test: skipped: $1"
  exit 0
}

if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
  [ "$(id -u)" = "0" ] || unavailable "docker.io is not installed and installing it needs root"
  echo "image-test: installing docker.io"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null; } \
    || unavailable "docker.io could not be installed"
fi

dockerd_pid=""
dockerd_log=""
stop_dockerd() {
  if [ -n "$dockerd_pid" ] && kill -0 "$dockerd_pid" 2>/dev/null; then
    echo "image-test: stopping the dockerd it started (pid $dockerd_pid)"
    kill -TERM "$dockerd_pid"
    for _ in $(seq 1 60); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$dockerd_pid" 2>/dev/null && kill -KILL "$dockerd_pid"
  fi
  [ -z "$dockerd_log" ] || rm -f "$dockerd_log"
}
trap stop_dockerd EXIT
trap 'exit 130' INT TERM

if ! docker version >/dev/null 2>&1; then
  [ "$(id -u)" = "0" ] || unavailable "no Docker engine answers and starting dockerd needs root"
  dockerd_log=$(mktemp /tmp/image-test-dockerd.XXXXXX)
  echo "image-test: starting dockerd --bridge=none --iptables=false (log $dockerd_log)"
  dockerd --bridge=none --iptables=false >"$dockerd_log" 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 1 60); do docker version >/dev/null 2>&1 && break; sleep 0.5; done
  docker version >/dev/null 2>&1 || { tail -n 20 "$dockerd_log" >&2; unavailable "dockerd did not start"; }
fi

base=${IMAGE_BASE:-}
if [ -z "$base" ]; then
  if docker image inspect python:3.12-slim >/dev/null 2>&1 \
     || timeout 120 docker pull python:3.12-slim >/dev/null 2>&1; then
    base=python:3.12-slim
  else
    echo "image-test: python:3.12-slim cannot be pulled here: the offline stand-in $standin instead"
    [ "$(id -u)" = "0" ] || unavailable "building the stand-in base needs root (debootstrap)"
    docker/standin-base.sh "$standin"
    base=$standin
  fi
fi

echo "image-test: docker build --build-arg BASE=$base -t $image ."
build_started=$(date +%s)
docker build --network host --build-arg "BASE=$base" -t "$image" . >/tmp/image-test-build.log 2>&1 \
  || { tail -n 40 /tmp/image-test-build.log >&2; echo "image-test: FAILED: docker build (log /tmp/image-test-build.log)" >&2; exit 1; }
echo "image-test: built $image on $base in $(( $(date +%s) - build_started )) s"

status=0
SHAP_IMAGE_TEST=1 SHAP_IMAGE="$image" SHAP_IMAGE_BASE="$base" \
  "$python" -m pytest tests/image -p no:cacheprovider -v -s --durations=0 ${PYTEST_ARGS:-} || status=$?
echo "image-test: base $base, $(( $(date +%s) - started )) s in all"
exit $status
