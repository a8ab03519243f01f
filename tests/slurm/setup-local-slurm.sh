#!/usr/bin/env bash
# A real single-node SLURM on localhost, for tests/test_slurm.py (Debian 12, run as root, no systemd needed):
# munge + MariaDB/slurmdbd (so `sacct` works, which the executor plugin polls) + slurmctld + slurmd,
# with one fake GPU (gres gpu:fake:1) so the workflow's `train` jobs, which request a GPU, can be scheduled.
#
#   WITH_DBD=1   slurmdbd + MariaDB (default). WITH_DBD=0: no accounting DB; snakemake must then be run with
#                --slurm-status-command squeue, and sacct-based checks are impossible.
#   FAKE_GPU=1   advertise one fake GPU (default). The GPU is /dev/null: jobs get CUDA_VISIBLE_DEVICES=0 and
#                nothing else, so the code under test must not really need CUDA.
#   STATE_DIR    where this script lists what it started and wrote (stop-local-slurm.sh reads it).
#
# Every daemon this script starts is recorded (its PID file) in $STATE_DIR/started, every config file it writes
# in $STATE_DIR/files; stop-local-slurm.sh stops exactly those daemons, by PID file, and removes those files.
# (Removing /etc/slurm/slurm.conf matters: while it exists and no slurmctld answers, `scontrol show config`
# waits ~9 s, and the SLURM executor plugin runs it at every `snakemake` start, dry runs included.)
# A munge or MariaDB that was already running is used and left alone; the packages stay installed.
# The script refuses (exit 3) to touch a machine that has its own SLURM: a slurm.conf it did not write, or
# SLURM daemons it did not start.
#
# Recipe and the reasons behind each line (gotchas): docs/cluster.md, "The SLURM integration test".
# Exit status: 0 ready; 3 refused (the machine has its own SLURM); anything else: setup failed.
set -euo pipefail
WITH_DBD=${WITH_DBD:-1}
FAKE_GPU=${FAKE_GPU:-1}
STATE_DIR=${STATE_DIR:-/run/symdistill-local-slurm}
MARKER="# written by symdistill tests/slurm/setup-local-slurm.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
export DEBIAN_FRONTEND=noninteractive
log() { echo "[setup +${SECONDS}s] $*"; }
refuse() { echo "REFUSED: $*" >&2; exit 3; }
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
record() { echo "$1" >> "$STATE_DIR/started"; }
wrote() { echo "$1" >> "$STATE_DIR/files"; }

[ "$(id -u)" = 0 ] || { echo "setup-local-slurm.sh must run as root" >&2; exit 1; }

# ---- leftovers of an earlier run of this script (e.g. a killed test) are ours to clean up ----
if [ -s "$STATE_DIR/started" ] || [ -s "$STATE_DIR/files" ]; then
  log "cleaning up after an earlier run"
  STATE_DIR=$STATE_DIR bash "$HERE/stop-local-slurm.sh"
fi
mkdir -p "$STATE_DIR"
: > "$STATE_DIR/started"
: > "$STATE_DIR/files"

# ---- never reconfigure a machine's own SLURM ----
if [ -e /etc/slurm/slurm.conf ] && ! grep -qxF "$MARKER" /etc/slurm/slurm.conf; then
  refuse "/etc/slurm/slurm.conf exists and was not written by this script; this machine has its own SLURM"
fi
for d in slurmctld slurmd slurmdbd; do
  if alive "/run/$d.pid"; then refuse "$d is already running (pid $(cat /run/$d.pid)), not started by this script"; fi
done

# ---- packages: Debian's slurm-wlm 22.05 (bookworm); install only what is missing ----
pkgs="munge slurmctld slurmd slurm-client"
[ "$WITH_DBD" = 1 ] && pkgs="$pkgs slurmdbd mariadb-server"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  log "apt-get install$missing"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
  log "packages already installed"
fi

log "writing config"
NODE=$(hostname -s)
getent hosts "$NODE" >/dev/null || echo "127.0.0.1 $NODE" >> /etc/hosts
# e.g. "CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1"
HW=$(slurmd -C | head -n1 | sed -e 's/ RealMemory=[0-9]*//' -e 's/^NodeName=[^ ]* //')
MEM_MB=$(awk '/MemTotal/ {print int($2/1024*0.9)}' /proc/meminfo)   # 10 % headroom for the daemons

GRES_LINES=""; NODE_GRES=""
if [ "$FAKE_GPU" = 1 ]; then
  # gres/gpu needs File= to be a character device: a symlink to /dev/null is accepted, a regular file is not
  ln -sf /dev/null /var/lib/slurm/fakegpu0
  printf '%s\nAutoDetect=off\nNodeName=%s Name=gpu Type=fake File=/var/lib/slurm/fakegpu0\n' "$MARKER" "$NODE" \
    > /etc/slurm/gres.conf
  wrote /etc/slurm/gres.conf
  GRES_LINES="GresTypes=gpu"
  # GPU usage in sacct AllocTRES; only allowed with slurmdbd (slurmctld dies without it)
  [ "$WITH_DBD" = 1 ] && GRES_LINES=$'GresTypes=gpu\nAccountingStorageTRES=gres/gpu'
  NODE_GRES="Gres=gpu:fake:1"
fi

if [ "$WITH_DBD" = 1 ]; then
  ACCT=$'AccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageHost=localhost\nJobAcctGatherType=jobacct_gather/linux'
else
  ACCT=$'AccountingStorageType=accounting_storage/none\nJobAcctGatherType=jobacct_gather/none'
fi

# proctrack/linuxproc + task/none: no cgroups (none in this sandbox), so CPU and memory limits are not enforced.
# DefMemPerCPU: a bare sbatch without --mem would otherwise get the whole node's memory.
cat > /etc/slurm/slurm.conf <<EOF
$MARKER
ClusterName=localcluster
SlurmctldHost=$NODE
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
ReturnToService=2
MpiDefault=none
MailProg=/bin/true
MinJobAge=300
DefMemPerCPU=1000
JobCompType=jobcomp/none
$ACCT
$GRES_LINES
NodeName=$NODE $HW RealMemory=$MEM_MB $NODE_GRES State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
wrote /etc/slurm/slurm.conf

log "starting daemons"
# munge: the package's postinst generated /etc/munge/munge.key. A running munged is used, not restarted.
install -d -o munge -g munge -m 0755 /run/munge
if ! munge -n >/dev/null 2>&1; then
  runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
  record /run/munge/munged.pid
fi

if [ "$WITH_DBD" = 1 ]; then
  install -d -o mysql -g root -m 0755 /run/mysqld
  if ! mariadb-admin ping >/dev/null 2>&1; then
    setsid /usr/sbin/mariadbd --user=mysql --pid-file=/run/mysqld/mysqld.pid \
      >/var/log/mariadbd-console.log 2>&1 < /dev/null &
    record /run/mysqld/mysqld.pid
    for _ in $(seq 60); do mariadb-admin ping >/dev/null 2>&1 && break; sleep 0.5; done
  fi
  mariadb -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurmdbpass';
              GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
  cat > /etc/slurm/slurmdbd.conf <<EOF
$MARKER
AuthType=auth/munge
DbdHost=localhost
StorageHost=localhost
StorageType=accounting_storage/mysql
StorageLoc=slurm_acct_db
StorageUser=slurm
StoragePass=slurmdbpass
LogFile=/var/log/slurm/slurmdbd.log
PidFile=/run/slurmdbd.pid
SlurmUser=slurm
EOF
  wrote /etc/slurm/slurmdbd.conf
  chown slurm:slurm /etc/slurm/slurmdbd.conf; chmod 600 /etc/slurm/slurmdbd.conf
  /usr/sbin/slurmdbd
  record /run/slurmdbd.pid
  for _ in $(seq 60); do sacctmgr -n list cluster >/dev/null 2>&1 && break; sleep 0.5; done
fi

/usr/sbin/slurmctld -c     # -c: cold start; ignore saved state (a drained node survives restarts otherwise)
record /run/slurmctld.pid
/usr/sbin/slurmd
record /run/slurmd.pid

# wait until the node is idle; fail fast when a daemon died (e.g. a fatal config error)
started=$SECONDS; deadline=$((SECONDS + 60))
until [ "$(timeout 5 sinfo -h -o %t 2>/dev/null)" = idle ]; do
  for d in slurmctld slurmd; do
    pid=$(cat /run/$d.pid 2>/dev/null || true)
    if { [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; } || { [ -z "$pid" ] && [ $((SECONDS - started)) -gt 10 ]; }; then
      echo "$d is not running:"; tail -n 5 /var/log/slurm/$d.log; exit 1
    fi
  done
  [ $SECONDS -lt $deadline ] || { echo "timeout waiting for node"; sinfo -R; exit 1; }
  sleep 0.5
done
sinfo -o '%P %a %D %t %N %c %m %G'
if [ "$WITH_DBD" = 1 ]; then
  # slurmctld registers the cluster in slurmdbd by itself; wait until sacct answers
  for _ in $(seq 60); do sacct -n -X >/dev/null 2>&1 && break; sleep 0.5; done
fi
log "local SLURM ready (daemons started: $(tr '\n' ' ' < "$STATE_DIR/started"))"
