#!/usr/bin/env bash
# Undo setup-local-slurm.sh, and only what it did: it listed the PID files of the daemons it started in
# $STATE_DIR/started (in start order) and the config files it wrote in $STATE_DIR/files. The daemons are
# stopped in reverse order, by PID, never by name; the files are removed if they still carry its marker line.
set -uo pipefail
STATE_DIR=${STATE_DIR:-/run/symdistill-local-slurm}
MARKER="# written by symdistill tests/slurm/setup-local-slurm.sh"
started="$STATE_DIR/started"
files="$STATE_DIR/files"

if [ -s "$started" ]; then
  for pidfile in $(tac "$started"); do
    if [ -s "$pidfile" ]; then
      pid=$(cat "$pidfile")
      if kill "$pid" 2>/dev/null; then
        for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        # slurmd can ignore SIGTERM while it cannot reach slurmctld
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
        echo "stopped $pidfile ($pid)"
      fi
    fi
    # slurmctld and slurmdbd run as user slurm and cannot delete their PID files in /run; a stale
    # /run/slurmctld.pid makes `apt-get purge slurmctld` fail in its prerm (which runs scancel)
    rm -f "$pidfile"
  done
fi
if [ -s "$files" ]; then
  for f in $(cat "$files"); do
    if [ -f "$f" ] && grep -qxF "$MARKER" "$f"; then rm -f "$f" && echo "removed $f"; fi
  done
fi
rm -f "$started" "$files"
