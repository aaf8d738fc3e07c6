#!/bin/sh
# Runs every fuzz target for SECONDS each (default 600) on corpora seeded from real images, and
# prints each target's executions and coverage. A crash stops the run with libFuzzer's reproducer
# in fuzz/artifacts/<target>/; turn it into a regression unit test next to the parser.
set -eu
cd "$(dirname "$0")"
seconds=${1:-600}
./seed.sh
for t in squashfs sidecar; do mkdir -p "corpus/$t"; done
for target in $(cargo fuzz list); do
    log=$(mktemp)
    if ! cargo fuzz run "$target" "corpus/$target" -- -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
        tail -40 "$log"
        echo "fuzz: $target FAILED (see above)"
        exit 1
    fi
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || echo '?')
    echo "fuzz: $target: ${seconds}s, $execs executions, coverage $cov edges, no crash"
    rm -f "$log"
done
