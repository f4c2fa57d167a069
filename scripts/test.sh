#!/usr/bin/env bash
# Runs the whole test suite from any directory.
#
# The integration tests judge the credentials file with real readers, so this first installs,
# when missing:
# - botocore with its crt extra into a venv at target/test-venv (falling back to `pip install --target
#   target/test-pylib` where the venv module is unavailable), exported as SSOFRESH_TEST_PYTHON;
# - the AWS SDK for JavaScript v2 into tests/readers/node_modules (`npm ci`).
# Then it runs `cargo test`, passing on any arguments (e.g. a test name filter).
#
# Needs: cargo, python3 (3.9+), node 20 + npm. An already set SSOFRESH_TEST_PYTHON that can
# import botocore is used as is.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# The crt extra (awscrt) drives botocore's own `aws login` provider (DPoP), which tests run.
botocore_requirement='botocore[crt]>=1.44.8,<2'
python="${PYTHON:-python3}"
venv="$root/target/test-venv"
pylib="$root/target/test-pylib"

say() { printf 'test.sh: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
imports_botocore() { "$1" -c 'import botocore, awscrt' >/dev/null 2>&1; }

use_pylib() {
  export PYTHONPATH="$pylib${PYTHONPATH:+:$PYTHONPATH}"
  SSOFRESH_TEST_PYTHON="$(command -v "$python")"
  export SSOFRESH_TEST_PYTHON
}

make_venv() {
  "$python" -m venv --clear "$venv" >/dev/null 2>&1 &&
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
      "$botocore_requirement"
}

setup_python() {
  if [[ -n "${SSOFRESH_TEST_PYTHON:-}" ]] && imports_botocore "$SSOFRESH_TEST_PYTHON"; then
    say "using SSOFRESH_TEST_PYTHON=$SSOFRESH_TEST_PYTHON"
    return
  fi
  command -v "$python" >/dev/null || die "$python not found; install python3"
  if [[ -x "$venv/bin/python" ]] && imports_botocore "$venv/bin/python"; then
    export SSOFRESH_TEST_PYTHON="$venv/bin/python"
    return
  fi
  if [[ -d "$pylib/botocore" ]]; then
    use_pylib
    return
  fi
  say "installing $botocore_requirement into $venv"
  if make_venv; then
    export SSOFRESH_TEST_PYTHON="$venv/bin/python"
    return
  fi
  # Debian ships the venv module without ensurepip unless python3-venv is installed.
  rm -rf "$venv"
  say "python3 -m venv is unavailable; installing $botocore_requirement into $pylib"
  if "$python" -m pip --version >/dev/null 2>&1; then
    "$python" -m pip install --quiet --disable-pip-version-check --target "$pylib" \
      "$botocore_requirement"
    use_pylib
    return
  fi
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    say "neither venv nor pip works; installing python3-venv with apt-get"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
    make_venv || die "creating $venv failed even after installing python3-venv"
    export SSOFRESH_TEST_PYTHON="$venv/bin/python"
    return
  fi
  die "cannot install botocore: install python3-venv (or python3-pip) and run again"
}

setup_node() {
  command -v node >/dev/null || die "node not found; install node 20 and npm"
  if [[ ! -f tests/readers/node_modules/aws-sdk/package.json ]]; then
    command -v npm >/dev/null || die "npm not found; install npm"
    say "installing the JavaScript SDK v2 into tests/readers/node_modules"
    (cd tests/readers && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

setup_python
setup_node
imports_botocore "$SSOFRESH_TEST_PYTHON" || die "$SSOFRESH_TEST_PYTHON cannot import botocore"

cargo test "$@"
