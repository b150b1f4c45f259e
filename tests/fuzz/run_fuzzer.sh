#!/usr/bin/env bash
# run_fuzzer.sh FUZZER NAME SEEDS WORKDIR: one bounded libFuzzer run (the 'fuzz' test suite).
# Replays the seed corpus, then fuzzes for VDOFS_FUZZ_SECONDS (default 20) into a scratch
# corpus under WORKDIR; a crash, leak, timeout or sanitizer report fails the test and leaves the
# input in WORKDIR/NAME-crash-*. Ends with the executions done. The mutation seed is fixed
# (VDOFS_FUZZ_SEED, default 1), so a loaded machine walks a shorter prefix of the same sequence.
set -euo pipefail
fuzzer=$1 name=$2 seeds=$3 work=$4
mkdir -p "$work/$name"
log=$work/$name.log
rc=0
"$fuzzer" -max_total_time="${VDOFS_FUZZ_SECONDS:-20}" -timeout=60 -rss_limit_mb=2048 \
  -seed="${VDOFS_FUZZ_SEED:-1}" -print_final_stats=1 -artifact_prefix="$work/$name-" "$work/$name" "$seeds" >"$log" 2>&1 || rc=$?
grep -E '^(stat::number_of_executed_units|stat::new_units_added)|ERROR|SUMMARY' "$log" || true
if [ $rc -ne 0 ]; then
  tail -n 60 "$log"
  echo "$name: the fuzzer failed (exit $rc); log $log"
fi
exit $rc
