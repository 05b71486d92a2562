#!/usr/bin/env bash
# Profile imipd under the benchmark's own workloads (relay C=100 W=10, then login cycles).
# py-spy samples the running server from outside; the results land in bench/results/:
#   profile-imipd-relay.svg / .txt / .raw.txt and profile-imipd-logins.svg / .txt / .raw.txt
# (.txt: the hot spots as text; .svg: a flame graph; .raw.txt: collapsed stacks).
# Without py-spy (and if it cannot be installed), imipd runs under pyinstrument instead.
# Usage: bench/profile.sh [loadgen options], e.g. bench/profile.sh --profile-pairs 1000
# Environment: DURATION (profiled seconds per workload, default 20), WARMUP (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/py-spy ] && ! command -v py-spy >/dev/null; then
    echo "profile.sh: py-spy not found; installing it into .venv" >&2
    .venv/bin/pip install --quiet py-spy || echo "profile.sh: no py-spy; trying pyinstrument" >&2
fi
exec .venv/bin/python bench/loadgen.py --profile --duration "${DURATION:-20}" \
    --warmup "${WARMUP:-3}" "$@"
