#!/bin/sh
# Issue 14: the 200-object module against Helm 4 rendering the equivalent chart, in process
# and as processes (see crates/charts/benches/render_vs_helm.rs). Prints a Markdown table.
#
# Usage: bench/render-vs-helm.sh   (honours CARGO_TARGET_DIR)
set -eu
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release -q -p operator --bin addon-operator
ADDON_OPERATOR_BIN=$target/release/addon-operator cargo bench -q -p charts --bench render_vs_helm
