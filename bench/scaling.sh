#!/bin/sh
# Issue 14: how the operator's cost grows — cold converge, RSS, requests and edit latency for
# 10, 50, 200 and 500 modules × 20 objects, and RSS and Synchronization time for 1,000, 10,000
# and 50,000 watched objects (see crates/operator/benches/scaling.rs). Prints Markdown tables.
#
# Usage: bench/scaling.sh   (honours CARGO_TARGET_DIR; SCALING_PART=modules or watched runs one table)
set -eu
cd "$(dirname "$0")/.."
cargo bench -q -p operator --bench scaling
