#!/usr/bin/env bash
# The full benchmark set behind benchmarks/RESULTS.md. Run it on an otherwise idle machine:
# figures from a busy 2-core box are noise. Results go to benchmarks/results/*.json.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup
bench=".venv/bin/corocrawl bench"
echo "nproc: $(nproc)"
$bench throughput --requests 20000 --concurrency 64 --repeat 5 --json benchmarks/results/throughput.json
$bench scale --sizes 1000,5000,10000 --delay 1 --repeat 3 --json benchmarks/results/scale.json
