#!/usr/bin/env bash
# Make sure Debian's PostgreSQL server binaries are installed (the tests start
# a throwaway server of their own on loopback; nothing system-wide is started).
set -euo pipefail
if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  exit 0
fi
echo "PostgreSQL server binaries not found; installing Debian's postgresql package" >&2
if [ "$(id -u)" -ne 0 ]; then
  echo "error: need root (or sudo) to apt-get install postgresql; install it and re-run make test" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends postgresql >/dev/null
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || { echo "error: postgresql installed but initdb not found" >&2; exit 1; }
