#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds Release, runs every test project.
# Ends with one line "tests: N passed, N failed, N skipped".
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh || exit 1
export R2M_REPO_ROOT="$root"
dotnet build R2M.Grpc.sln -c Release -nologo -v q 2>&1 | grep -E 'error|Warn|Elapsed' ; build=${PIPESTATUS[0]}
[ "$build" = 0 ] || { echo "build failed"; exit 1; }
log=$(mktemp)
dotnet test R2M.Grpc.sln -c Release --no-build -nologo 2>&1 | tee "$log"; rc=${PIPESTATUS[0]}
# Sum the per-project summary lines ("Passed!  - Failed: 0, Passed: 12, Skipped: 0, ...").
awk -F'[:,]' '/(Passed|Failed)! +- +Failed:/ { f+=$2; p+=$4; s+=$6 }
  END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
rm -f "$log"
exit "$rc"
