#!/usr/bin/env bash
# The whole test suite: unit and conversation tests, then end-to-end tests with real peers.
#   scripts/test.sh            everything
#   scripts/test.sh --unit     only tests that need no outside program
# Prints one closing line: "N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
only_unit=0
[ "${1:-}" = "--unit" ] && only_unit=1

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
results="$root/artifacts/test-results"
rm -rf "$results"
mkdir -p "$results"

if [ $only_unit -eq 0 ]; then
  scripts/install-test-deps.sh || { echo "0 passed, 1 failed"; exit 1; }
fi

dotnet build Postern.slnx -c Release -nologo -clp:ErrorsOnly || { echo "0 passed, 1 failed"; exit 1; }

status=0
run() { # $1 = label, $2 = filter
  dotnet test Postern.slnx -c Release --no-build --nologo \
    --filter "$2" --results-directory "$results/$1" --logger "trx" \
    -- RunConfiguration.TreatNoTestsAsError=false || status=1
}
# Unit and conversation tests run under a time zone with a half-hour offset and daylight saving time,
# so that nothing depends on the machine's zone; end-to-end tests run in the machine's own.
TZ=America/St_Johns run unit "Category!=EndToEnd"
[ $only_unit -eq 0 ] && run e2e "Category=EndToEnd"

passed=0 failed=0 skipped=0
for f in $(find "$results" -name '*.trx'); do
  counters=$(grep -o '<Counters [^>]*>' "$f" | head -1)
  p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters"); passed=$((passed + ${p:-0}))
  x=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters"); failed=$((failed + ${x:-0}))
  n=$(sed -n 's/.* notExecuted="\([0-9]*\)".*/\1/p' <<<"$counters"); skipped=$((skipped + ${n:-0}))
done
[ $status -ne 0 ] && [ $failed -eq 0 ] && failed=1
echo "$passed passed, $failed failed, $skipped skipped"
exit $status
