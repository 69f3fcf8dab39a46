#!/usr/bin/env bash
# A real one-node Slurm cluster on this machine, for exechost-slurm's tests, CI and examples.
#
# Idempotent: does nothing when a Slurm controller already answers (`scontrol ping`). Otherwise,
# as root: installs Debian's slurmctld, slurmd, slurm-client and munge with apt-get when they are
# missing, writes /etc/slurm/slurm.conf (this host's short name and CPU count; state, spool and
# logs under $EXECHOST_SLURM_DIR, default /tmp/exechost-slurm), starts munged, slurmctld and
# slurmd, and waits (with a deadline) until the node is idle. Stop it with `slurm-cluster.sh stop`.
set -euo pipefail

DIR="${EXECHOST_SLURM_DIR:-/tmp/exechost-slurm}"
CONF=/etc/slurm/slurm.conf
MARK="# written by exechost-slurm's slurm-cluster.sh"
DEADLINE_SECONDS="${EXECHOST_SLURM_START_TIMEOUT:-60}"

say() { printf 'slurm-cluster: %s\n' "$*" >&2; }

answers() { command -v scontrol >/dev/null && timeout 10 scontrol ping 2>/dev/null | grep -q 'is UP'; }

running() {  # whether the daemon $1 of this cluster runs (its pid file names a live process)
    local pid
    pid="$(cat "$DIR/$1.pid" 2>/dev/null)" || return 1
    [ -n "$pid" ] && [ -d "/proc/$pid" ] && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null
}

stop() {
    local name
    for name in slurmd slurmctld; do
        if [ -f "$DIR/$name.pid" ]; then
            kill "$(cat "$DIR/$name.pid")" 2>/dev/null || true
        fi
    done
}

if [ "${1:-}" = stop ]; then
    stop
    exit 0
fi

if answers; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    say "no Slurm controller answers, and starting one needs root (run this script as root)"
    exit 1
fi

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
    || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
    say "installing slurmctld slurmd slurm-client munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q slurmctld slurmd slurm-client munge >/dev/null \
        || { apt-get update -q >/dev/null && apt-get install -y -q slurmctld slurmd slurm-client munge >/dev/null; }
fi

if [ -e "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
    say "$CONF exists and was not written by this script: start that cluster instead"
    exit 1
fi

host="$(hostname -s)"
cpus="$(nproc)"
memory="$(awk '/^MemTotal:/ { print int($2 / 1024 * 0.8) }' /proc/meminfo)"
mkdir -p -m 0755 "$DIR/state" "$DIR/spool"
# Cgroups where this machine lets us make one: jobs past --mem end OUT_OF_MEMORY, and a cancel
# kills every process of the job. Else processes are tracked by parentage (one whose parent died
# first escapes a cancel) and memory by Slurm's polling (such jobs end FAILED, killed).
probe=/sys/fs/cgroup/memory/exechost-slurm-probe
if mkdir "$probe" 2>/dev/null && rmdir "$probe"; then
    task_plugin=task/cgroup
    proctrack=proctrack/cgroup
    memory_kill=""
else
    task_plugin=task/none
    proctrack=proctrack/linuxproc
    memory_kill="JobAcctGatherParams=OverMemoryKill"
fi
cat >"$CONF" <<CONF
$MARK
ClusterName=exechost
SlurmctldHost=$host
SlurmUser=root
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
ProctrackType=$proctrack
TaskPlugin=$task_plugin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
$memory_kill
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/builtin
SchedulerParameters=sched_min_interval=0,batch_sched_delay=0
MinJobAge=300
MaxJobCount=100000
KillWait=1
InactiveLimit=0
Waittime=0
DefMemPerCPU=512
NodeName=$host CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:16
CONF

cat >/etc/slurm/cgroup.conf <<CGROUP
$MARK
CgroupPlugin=cgroup/v1
CgroupMountpoint=/sys/fs/cgroup
ConstrainRAMSpace=yes
ConstrainSwapSpace=yes
CGROUP

if ! pgrep -x munged >/dev/null; then
    mkdir -p /run/munge && chown munge:munge /run/munge && chmod 0755 /run/munge
    [ -s /etc/munge/munge.key ] || { mungekey --create >/dev/null 2>&1 || /usr/sbin/mungekey -c; chown munge:munge /etc/munge/munge.key; }
    runuser -u munge -- /usr/sbin/munged
fi
running slurmctld || slurmctld
running slurmd || slurmd

deadline=$((SECONDS + DEADLINE_SECONDS))
until answers && sinfo -h -N -o '%t' 2>/dev/null | grep -qx idle; do
    if [ "$SECONDS" -ge "$deadline" ]; then
        say "the node did not become idle within ${DEADLINE_SECONDS}s; see $DIR/slurmctld.log and $DIR/slurmd.log"
        exit 1
    fi
    sleep 0.5
done
say "cluster up: node $host, $cpus CPUs"
