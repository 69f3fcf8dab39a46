#!/usr/bin/env bash
# A real one-node Slurm cluster on this machine, for exechost-slurm's tests, CI and examples.
#
# Idempotent: does nothing when a Slurm controller already answers (`scontrol ping`). Otherwise,
# as root: installs Debian's slurmctld, slurmd, slurm-client and munge with apt-get when they are
# missing, writes /etc/slurm/slurm.conf (this host's short name and CPU count; state, spool and
# logs under $EXECHOST_SLURM_DIR, default /tmp/exechost-slurm), starts munged, slurmctld and
# slurmd, and waits (with a deadline) until the node is idle. Stop it with `slurm-cluster.sh stop`.
#
# Accounting (`sacct`) where this machine's MariaDB answers at 127.0.0.1:3306 (user root, no
# password): Debian's slurmdbd (installed when missing) stores the jobs in its database
# exechost_slurm_acct, started before slurmctld, and the cluster is registered in it. Without
# MariaDB the cluster has no accounting (accounting_storage/none): `sacct` says it is disabled.
set -euo pipefail

DIR="${EXECHOST_SLURM_DIR:-/tmp/exechost-slurm}"
CONF=/etc/slurm/slurm.conf
MARK="# written by exechost-slurm's slurm-cluster.sh"
DEADLINE_SECONDS="${EXECHOST_SLURM_START_TIMEOUT:-60}"

DBD_CONF=/etc/slurm/slurmdbd.conf
DATABASE=exechost_slurm_acct

say() { printf 'slurm-cluster: %s\n' "$*" >&2; }

answers() { command -v scontrol >/dev/null && timeout 10 scontrol ping 2>/dev/null | grep -q 'is UP'; }

mariadb_runs() {  # whether MariaDB at 127.0.0.1:3306 (root, no password) runs the statement $1
    local client
    client="$(command -v mariadb || command -v mysql)" || return 1
    timeout 10 "$client" --protocol=tcp -h 127.0.0.1 -P 3306 -u root -e "$1" >/dev/null 2>&1
}

wait_for() {  # wait_for WHAT COMMAND...: run COMMAND until it succeeds, at most DEADLINE_SECONDS
    local what="$1" deadline=$((SECONDS + DEADLINE_SECONDS))
    shift
    until "$@" >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            say "$what within ${DEADLINE_SECONDS}s; see the logs in $DIR"
            exit 1
        fi
        sleep 0.5
    done
}

node_idle() { answers && sinfo -h -N -o '%t' | grep -qx idle; }

ours() {  # whether the file $1 is absent or was written by this script
    [ ! -e "$1" ] || grep -qF "$MARK" "$1"
}

running() {  # whether the daemon $1 of this cluster runs (its pid file names a live process)
    local pid
    pid="$(cat "$DIR/$1.pid" 2>/dev/null)" || return 1
    [ -n "$pid" ] && [ -d "/proc/$pid" ] && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null
}

stopped() { ! running slurmd && ! running slurmctld && ! running slurmdbd; }

stop() {  # stop the daemons of this cluster, and wait until they have exited
    local name
    for name in slurmd slurmctld slurmdbd; do
        if running "$name"; then
            kill "$(cat "$DIR/$name.pid")" 2>/dev/null || true
        fi
    done
    wait_for "the Slurm daemons did not exit" stopped
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

for file in "$CONF" "$DBD_CONF"; do
    if ! ours "$file"; then
        say "$file exists and was not written by this script: start that cluster instead"
        exit 1
    fi
done

# With accounting, MinJobAge=2 (Slurm's default is 300, its smallest advised value 2): the
# controller forgets a job seconds after its end, so the tests see jobs leave squeue, as a host
# stopped for minutes does on any cluster, and find their ends in sacct. Without accounting
# nothing would tell those ends: Slurm's default.
if mariadb_runs "CREATE DATABASE IF NOT EXISTS $DATABASE"; then
    accounting=accounting_storage/slurmdbd
    min_job_age=2
    if ! command -v slurmdbd >/dev/null || ! dpkg -s slurm-wlm-mysql-plugin >/dev/null 2>&1; then
        say "installing slurmdbd slurm-wlm-mysql-plugin"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -q slurmdbd slurm-wlm-mysql-plugin >/dev/null \
            || { apt-get update -q >/dev/null && apt-get install -y -q slurmdbd slurm-wlm-mysql-plugin >/dev/null; }
    fi
else
    accounting=accounting_storage/none
    min_job_age=300
    say "no MariaDB answers at 127.0.0.1:3306 (user root, no password): the cluster has no accounting (accounting_storage/none), sacct will say it is disabled"
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
AccountingStorageType=$accounting
AccountingStorageHost=localhost
AccountingStoragePort=6819
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/builtin
SchedulerParameters=sched_min_interval=0,batch_sched_delay=0
MinJobAge=$min_job_age
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
if [ "$accounting" = accounting_storage/slurmdbd ]; then
    (umask 077 && cat >"$DBD_CONF" <<DBD
$MARK
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=root
PidFile=$DIR/slurmdbd.pid
LogFile=$DIR/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=3306
StorageUser=root
StorageLoc=$DATABASE
DBD
    )
    running slurmdbd || slurmdbd
    wait_for "slurmdbd did not answer sacctmgr" sacctmgr -n list cluster
    if ! sacctmgr -n -P list cluster format=cluster | grep -qx exechost; then
        sacctmgr -i add cluster exechost >/dev/null
    fi
fi
running slurmctld || slurmctld
running slurmd || slurmd

wait_for "the node did not become idle" node_idle
if [ "$accounting" = accounting_storage/slurmdbd ]; then
    wait_for "sacct did not answer" sacct -n -X
fi
say "cluster up: node $host, $cpus CPUs, $accounting"
