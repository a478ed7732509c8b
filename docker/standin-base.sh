#!/usr/bin/env bash
# An OFFLINE STAND-IN for python:3.12-slim, for machines that cannot pull from Docker Hub (CI here: only
# Debian's archive, PyPI and npm are reachable). It is never what the service is deployed on: Debian
# bookworm (debootstrap, minbase, from the apt mirror this machine is configured with) plus this machine's
# CPython 3.12 copied to /usr/local, where python:3.12-slim has its own. Cached: an existing TAG is reused.
#   docker/standin-base.sh [TAG]      (root: debootstrap and docker)
set -euo pipefail
tag=${1:-shap-base:bookworm-py312}

if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "standin-base: $tag exists on this machine, reused"
  exit 0
fi
started=$(date +%s)
command -v debootstrap >/dev/null 2>&1 || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }

# The interpreter: python3.12 on PATH, else pyenv's (the Makefile looks in the same places).
if python3.12 -c 'import sys' >/dev/null 2>&1; then
  python=python3.12
else
  python=$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3.12 2>/dev/null | tail -n 1)
fi
[ -n "$python" ] || { echo "standin-base: no CPython 3.12 on this machine" >&2; exit 1; }
prefix=$("$python" -c 'import sys; print(sys.base_prefix)')
version=$("$python" -c 'import platform; print(platform.python_version())')
[ "$prefix" != "/usr" ] || { echo "standin-base: $python is the system's (prefix /usr); need a /usr/local-style build" >&2; exit 1; }

# The Debian mirror apt uses here (deb822 URIs: or one-line deb), not the security one.
mirror=$(sed -n -E 's#^(URIs:[[:space:]]*|deb[[:space:]]+(\[[^]]*\][[:space:]]+)?)(https?://[^[:space:]]+/debian)/?([[:space:]].*)?$#\3#p' \
  /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null | head -n 1 || true)
mirror=${mirror:-http://deb.debian.org/debian}

root=$(mktemp -d /tmp/shap-standin.XXXXXX)
cleanup() {  # debootstrap may leave /proc or /dev mounted in the chroot if it fails: unmount, never delete through
  awk -v root="$root/" 'index($2, root) == 1 {print $2}' /proc/mounts | sort -r | xargs -r -n 1 umount -l
  rm -rf --one-file-system "$root"
}
trap cleanup EXIT
echo "standin-base: debootstrap bookworm from $mirror, CPython $version from $prefix"
# The shared libraries CPython's extension modules link (python:3.12-slim has the same ones) and the CA
# certificates (pip installs from PyPI over HTTPS).
debootstrap --variant=minbase --include=ca-certificates,netbase,tzdata,libssl3,libffi8,libsqlite3-0,libbz2-1.0,liblzma5,zlib1g,libreadline8,libncursesw6,libuuid1,libgdbm6,libexpat1 \
  bookworm "$root" "$mirror" >"$root.debootstrap.log" 2>&1 || { tail -n 30 "$root.debootstrap.log" >&2; exit 1; }
rm -f "$root.debootstrap.log"
cat >"$root/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb ${mirror%/debian}/debian-security bookworm-security main
SOURCES

# apt and dpkg as Debian's official (slim) images set them up, so that `apt-get install` in the Dockerfile
# leaves the same files behind as on python:3.12-slim: no package caches, no documentation, man pages or locales.
cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/docker-no-languages"
echo 'Acquire::GzipIndexes "true";' >"$root/etc/apt/apt.conf.d/docker-gzip-indexes"
printf 'APT::AutoRemove::SuggestsImportant "false";\n' >"$root/etc/apt/apt.conf.d/docker-autoremove-suggests"
cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
DPKG

# CPython at /usr/local (python, python3, python3.12 on PATH as in python:3.12-slim), without its tests and
# without this machine's site-packages; pip from the interpreter's own bundled wheel (ensurepip, offline).
tar -C "$prefix" --exclude='./lib/python3.*/test' --exclude='./lib/python3.*/site-packages/*' \
  --exclude='__pycache__' -cf - . | tar -C "$root/usr/local" -xf -
chroot "$root" /sbin/ldconfig
missing=$(chroot "$root" sh -c 'ldd /usr/local/bin/python3.12 /usr/local/lib/python3.*/lib-dynload/*.so' | grep 'not found' | sort -u || true)
# _tkinter needs Tk and the deprecated nis module libnsl: the service uses neither; anything else missing is an error.
if grep -v -E 'lib(tk|tcl|nsl|tirpc)' <<<"$missing" | grep -q .; then
  echo "standin-base: shared libraries missing in the chroot:" >&2; echo "$missing" >&2; exit 1
fi
chroot "$root" /usr/local/bin/python3.12 -m ensurepip --default-pip >/dev/null
ln -sf pip3 "$root/usr/local/bin/pip"
chroot "$root" /usr/local/bin/python3 -c 'import ssl, sqlite3, ctypes, lzma, bz2, zlib, hashlib, uuid, readline'
# This machine's CA bundle, in place of Debian's: where egress passes a TLS-inspecting proxy, only the
# machine's own trust store lets pip reach PyPI during `docker build`. The stand-in never leaves this machine.
if [ -s /etc/ssl/certs/ca-certificates.crt ]; then
  cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
fi
printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$root/etc/pip.conf"  # pip: this store, not certifi's
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*

tar -C "$root" -cf - . | docker import \
  --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change "ENV PYTHON_VERSION=$version" \
  --change 'CMD ["python3"]' \
  --message "offline stand-in for python:3.12-slim: debian bookworm + CPython $version" \
  - "$tag" >/dev/null
echo "standin-base: built $tag in $(( $(date +%s) - started )) s"
