#!/usr/bin/env bash
# Run the next due window(s) of one use case; made for cron.
#
#   scripts/cron_cycle.sh params/churn.yaml [extra `millpond cycle --next` options, e.g. --max-windows 3]
#
# Works with cron's bare environment (no HOME, PATH=/usr/bin:/bin): it finds the
# workspace (the folder above this script, or $MILLPOND_WORKSPACE) and the venv
# (<workspace>/.venv, or $MILLPOND_VENV) by its own location, and appends
# everything to <workspace>/logs/cron.log (rotated at $MILLPOND_LOG_MAX_BYTES,
# default 5 MB, keeping cron.log.1 … cron.log.5).
#
# Exit codes (those of `millpond cycle --next`):
#   0 done   1 a stage failed (its run is recorded)   2 bad input or setup
#   3 a stored record failed verification   4 nothing due   5 locked (another cycle runs)
set -u

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
ws="${MILLPOND_WORKSPACE:-$(dirname "$here")}"
venv="${MILLPOND_VENV:-$ws/.venv}"
logs="$ws/logs"
log="$logs/cron.log"
max_bytes="${MILLPOND_LOG_MAX_BYTES:-5000000}"

if [ $# -lt 1 ]; then
    echo "usage: $0 params/<use_case>.yaml [millpond cycle --next options]" >&2
    exit 2
fi
params="$1"
shift

mkdir -p "$logs" || { echo "cannot create $logs" >&2; exit 2; }
# Rotate: cron.log -> cron.log.1 -> … -> cron.log.5 (the oldest is dropped).
if [ -f "$log" ] && [ "$(stat -c %s "$log" 2>/dev/null || echo 0)" -ge "$max_bytes" ]; then
    for i in 4 3 2 1; do
        [ -f "$log.$i" ] && mv -f "$log.$i" "$log.$((i + 1))"
    done
    mv -f "$log" "$log.1"
fi
exec >>"$log" 2>&1

stamp() { date -u +%Y-%m-%dT%H:%M:%SZ; }
echo "=== $(stamp) cron_cycle.sh $params $* (pid $$, workspace $ws)"

if [ ! -x "$venv/bin/python" ]; then
    echo "$(stamp) error: no Python at $venv/bin/python: run \`make venv\` in $ws or set MILLPOND_VENV"
    echo "=== $(stamp) exit 2"
    exit 2
fi

# Cron gives no HOME and no locale: keep Jupyter's and matplotlib's state inside the workspace.
export LANG="${LANG:-C.UTF-8}" LC_ALL="${LC_ALL:-C.UTF-8}"
export JUPYTER_RUNTIME_DIR="${JUPYTER_RUNTIME_DIR:-$logs/.runtime/jupyter}"
export IPYTHONDIR="${IPYTHONDIR:-$logs/.runtime/ipython}"
export MPLCONFIGDIR="${MPLCONFIGDIR:-$logs/.runtime/matplotlib}"
export PYTHONUNBUFFERED=1
export MILLPOND_WORKSPACE="$ws"
mkdir -p "$JUPYTER_RUNTIME_DIR" "$IPYTHONDIR" "$MPLCONFIGDIR"

cd "$ws" || exit 2
"$venv/bin/python" -m millpond --workspace "$ws" cycle --params "$params" --next "$@"
code=$?
echo "=== $(stamp) exit $code"
exit "$code"
