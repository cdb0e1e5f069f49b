#!/usr/bin/env bash
# Installs what swift-partd needs on a Debian machine that has the Swift toolchain.
# Idempotent: installs only what is missing, so running it again costs a second.
#
#   scripts/setup.sh            system packages for building and running
#   scripts/setup.sh --python   also python3 and pip (apt), then Python's partd, python-snappy, python-blosc, numpy,
#                               msgpack, pyarrow and pandas (the references the tests and benchmarks compare with)
set -euo pipefail

# Debian packages the build needs. The byte-store core needs none beyond the
# toolchain; the compression module links these C codec libraries, the Redis
# store links hiredis, and redis-server runs the local cluster the Redis tests,
# example and benchmark use (scripts/redis-cluster.sh).
APT_PACKAGES=(pkg-config zlib1g-dev libbz2-dev libsnappy-dev libblosc-dev libzstd-dev liblz4-dev libxxhash-dev
  libhiredis-dev redis-server)

want_python=0
for arg in "$@"; do
  case "$arg" in
    --python) want_python=1 ;;
    *) echo "usage: $0 [--python]" >&2; exit 2 ;;
  esac
done

command -v swift >/dev/null || { echo "setup: the Swift toolchain is not on PATH; install Swift 6.1 or later first" >&2; exit 1; }

# Python's partd, and the modules the interoperability tests compare with (pip names; python_modules imports them).
PIP_PACKAGES=(partd python-snappy blosc numpy msgpack pyarrow pandas xxhash cramjam)
python_modules() { python3 -c "import partd, snappy, blosc, numpy, msgpack, pyarrow, pandas, xxhash, cramjam" >/dev/null 2>&1; }
has_pip() { python3 -m pip --version >/dev/null 2>&1; }

# The Python references need python3, and pip (a Debian package of its own) while a module is missing;
# both are installed with the other packages when missing.
if [ "$want_python" -eq 1 ]; then
  command -v python3 >/dev/null || APT_PACKAGES+=(python3)
  { command -v python3 >/dev/null && { python_modules || has_pip; }; } || APT_PACKAGES+=(python3-pip)
fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$want_python" -eq 1 ]; then
  command -v python3 >/dev/null || { echo "setup: python3 is still missing after apt-get install" >&2; exit 1; }
  if ! python_modules; then
    has_pip || { echo "setup: pip is still missing after apt-get install of python3-pip" >&2; exit 1; }
    echo "setup: installing ${PIP_PACKAGES[*]} with pip" >&2
    python3 -m pip install --quiet --disable-pip-version-check "${PIP_PACKAGES[@]}" >&2 \
      || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "${PIP_PACKAGES[@]}" >&2
  fi
fi
