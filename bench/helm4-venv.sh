#!/bin/sh
# Prints the path of a Python that has Helm 4 in-process (the PyPI wheel helm-python-sdk),
# creating the venv under the target directory on first use. Benchmarks that compare with
# Helm 4 call this; `scripts/test.sh` never does.
#
# Usage: bench/helm4-venv.sh   (honours CARGO_TARGET_DIR; default: <repo>/target)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
venv=$target/helm4-venv
version=0.2.2
sdk=helm-python-sdk==$version
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" >&2 || {
        echo "creating the venv $venv failed (is python3-venv installed? apt-get install python3-venv)" >&2
        exit 1
    }
fi
if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('helm-python-sdk') != '$version')" 2>/dev/null; then
    "$venv/bin/python" -m pip install -q "$sdk" >&2 || {
        echo "installing $sdk into $venv failed (PyPI must be reachable)" >&2
        exit 1
    }
fi
echo "$venv/bin/python"
