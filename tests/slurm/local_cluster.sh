#!/usr/bin/env bash
# A real single-node SLURM 22.05 (Debian's packages) on localhost, for the SLURM tests and CI.
#
#   tests/slurm/local_cluster.sh install          apt-get the packages (root; skipped when already there)
#   tests/slurm/local_cluster.sh start STATE_DIR  write the configs under STATE_DIR and start munged, MariaDB,
#                                                 slurmdbd, slurmctld and slurmd; waits until the node is idle
#   tests/slurm/local_cluster.sh stop STATE_DIR   stop every daemon this script started, by its pid file
#
# The configuration lives in STATE_DIR/etc; /etc/slurm/slurm.conf is linked to it while the cluster runs, because
# the executor plugin clears SLURM_* variables (SLURM_CONF too) before the `srun` inside each job. An existing
# /etc/slurm/slurm.conf that is not such a link (a real cluster's) is never touched: start refuses instead.
# The node has the machine's CPUs, 95 % of its memory and one fake GPU (`gpu:fake:1`, a character device), so
# rules that ask for `gpu: 1` schedule. slurmdbd + MariaDB make `sacct` work: the executor plugin's default status
# check. Every daemon keeps its state, logs and pid file under STATE_DIR; nothing is installed as a service.
set -Eeuo pipefail  # -E: the ERR trap that shows the logs also fires inside functions

usage() {
    sed -n '2,9p' "$0" >&2
    exit 2
}

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmdbd >/dev/null && command -v mariadbd >/dev/null; then
        echo "SLURM packages already installed: $(slurmctld -V)"
        return
    fi
    [[ $(id -u) == 0 ]] || { echo "installing SLURM needs root (apt-get)" >&2; exit 1; }
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends \
        munge slurmctld slurmd slurm-client slurmdbd mariadb-server >/dev/null
    echo "installed $(slurmctld -V)"
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
    local seconds=$1 what=$2
    shift 2
    for _ in $(seq $((seconds * 5))); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    echo "timed out after ${seconds}s waiting for $what" >&2
    return 1
}

write_configs() {
    local state=$1 cpus mem
    cpus=$(nproc)
    mem=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
    mem=$((mem * 95 / 100))
    cat >"$state/etc/slurm.conf" <<EOF
ClusterName=hanseg-test
SlurmctldHost=localhost
SlurmUser=slurm
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/slurmd
SlurmctldPidFile=$state/run/slurmctld.pid
SlurmdPidFile=$state/run/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without a default, a job that gives no --mem takes the whole node and jobs run one at a time.
DefMemPerCPU=1000
ReturnToService=2
# Finished jobs stay visible to squeue for 5 minutes (the plugin's squeue status mode needs that).
MinJobAge=300
# A job past its time limit is killed quickly (the resume-after-time-limit test waits for it).
KillWait=5
GresTypes=gpu
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStorageTRES=gres/gpu
AccountingStoreFlags=job_comment
JobAcctGatherType=jobacct_gather/linux
NodeName=localhost NodeAddr=127.0.0.1 NodeHostname=localhost CPUs=$cpus RealMemory=$mem Gres=gpu:fake:1 State=UNKNOWN
PartitionName=main Nodes=localhost Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=localhost MaxTime=INFINITE State=UP
EOF
    # slurmd accepts only a character device as a GPU file; this one is never opened.
    [[ -c $state/dev/nvidia0 ]] || mknod "$state/dev/nvidia0" c 195 0
    echo "Name=gpu Type=fake File=$state/dev/nvidia0" >"$state/etc/gres.conf"
    cat >"$state/etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=slurm
PidFile=$state/run/slurmdbd.pid
LogFile=$state/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=3306
StorageUser=slurm
StoragePass=hanseg-test
StorageLoc=slurm_acct_db
EOF
    chown slurm:slurm "$state/etc/slurmdbd.conf"
    chmod 600 "$state/etc/slurmdbd.conf"
}

start_munge() {
    local state=$1
    # A munged that already runs (a system one) is used and left alone; only ours gets a pid file to stop.
    if [[ -f /run/munge/munged.pid ]] && kill -0 "$(cat /run/munge/munged.pid)" 2>/dev/null; then return; fi
    mkdir -p /run/munge
    chown munge:munge /run/munge
    [[ -f /etc/munge/munge.key ]] || mungekey --create
    runuser -u munge -- munged --force
    wait_for 10 munged bash -c 'munge -n | unmunge'
    cp /run/munge/munged.pid "$state/run/munged.pid"
}

start_mariadb() {
    local state=$1
    mkdir -p "$state/mysql" "$state/mysql-run"
    chown mysql:mysql "$state/mysql" "$state/mysql-run"
    mariadb-install-db --no-defaults --user=mysql --datadir="$state/mysql" \
        --auth-root-authentication-method=socket >"$state/log/mariadb-install.log" 2>&1
    mariadbd --no-defaults --user=mysql --datadir="$state/mysql" --bind-address=127.0.0.1 --port=3306 \
        --skip-name-resolve --socket="$state/mysql-run/mysqld.sock" --pid-file="$state/mysql-run/mysqld.pid" \
        >"$state/log/mariadb.log" 2>&1 &
    wait_for 60 MariaDB mariadb --no-defaults -S "$state/mysql-run/mysqld.sock" -u root -e "SELECT 1"
    cp "$state/mysql-run/mysqld.pid" "$state/run/mariadbd.pid"
    mariadb --no-defaults -S "$state/mysql-run/mysqld.sock" -u root <<EOF
CREATE DATABASE slurm_acct_db;
CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY 'hanseg-test';
CREATE USER 'slurm'@'localhost' IDENTIFIED BY 'hanseg-test';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
EOF
}

start() {
    local state=$1
    if [[ -f $state/run/slurmctld.pid ]] && kill -0 "$(cat "$state/run/slurmctld.pid")" 2>/dev/null; then
        echo "a cluster already runs from $state" >&2
        exit 1
    fi
    if [[ -d $state && -n $(ls -A "$state") && ! -f $state/etc/slurm.conf ]]; then
        echo "$state is not empty and holds no earlier cluster: refusing to clear it" >&2
        exit 1
    fi
    if [[ -e /etc/slurm/slurm.conf && ! -L /etc/slurm/slurm.conf ]]; then
        echo "/etc/slurm/slurm.conf exists and is not a test cluster's link: refusing to replace it" >&2
        exit 1
    fi
    # The daemons run as slurm and mysql: every directory above STATE_DIR must let them through (mktemp -d
    # makes a private 0700 one).
    mkdir -p "$(dirname "$state")"
    local dir
    dir=$(cd "$(dirname "$state")" && pwd)
    while true; do
        if ! runuser -u slurm -- test -x "$dir"; then
            echo "$dir cannot be entered by the slurm and mysql users: chmod o+x it or choose another STATE_DIR" >&2
            exit 1
        fi
        [[ $dir == / ]] && break
        dir=$(dirname "$dir")
    done
    rm -rf "$state"
    mkdir -p "$state"/{etc,ctld,slurmd,run,log,dev}
    state=$(cd "$state" && pwd)
    chmod 755 "$state"
    trap 'show_logs "$state"' ERR
    mkdir -p /etc/slurm
    ln -sfn "$state/etc/slurm.conf" /etc/slurm/slurm.conf
    chown slurm:slurm "$state/ctld" "$state/log" "$state/run"
    export SLURM_CONF=$state/etc/slurm.conf
    write_configs "$state"
    start_munge "$state"
    start_mariadb "$state"
    slurmdbd
    wait_for 30 slurmdbd sacctmgr --immediate list cluster
    slurmctld
    slurmd -N localhost
    wait_for 60 "the node to be idle" bash -c '[[ $(sinfo -h -o %t -n localhost -p main) == idle ]]'
    # The cluster is known to slurmdbd once slurmctld has registered it; sacct needs that.
    wait_for 30 "cluster registration" bash -c 'sacctmgr -n -P list cluster format=cluster | grep -qx hanseg-test'
    echo "SLURM is up ($state; /etc/slurm/slurm.conf links to its configuration)"
}

show_logs() {  # on a failed start: the tail of every log, on stdout so that CI shows it beside the step
    local log
    echo "SLURM did not start; the last lines of its logs:"
    for log in "$1"/log/*.log; do
        [[ -f $log ]] || continue
        echo "--- $log"
        tail -n 20 "$log"
    done
}

stop() {
    local state pid_file pid
    state=$(cd "$1" && pwd)
    # Reverse start order; munged only if this script started it.
    for pid_file in "$state"/run/{slurmd,slurmctld,slurmdbd,mariadbd,munged}.pid; do
        [[ -f $pid_file ]] || continue
        pid=$(cat "$pid_file")
        if kill "$pid" 2>/dev/null; then
            for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
        fi
        rm -f "$pid_file"
    done
    # Without a configuration, SLURM's client commands fail at once instead of waiting for a controller.
    if [[ $(readlink /etc/slurm/slurm.conf 2>/dev/null) == "$state/etc/slurm.conf" ]]; then
        rm /etc/slurm/slurm.conf
    fi
    echo "SLURM stopped ($state)"
}

case "${1:-}" in
install) install_packages ;;
start) [[ $# == 2 ]] || usage; start "$2" ;;
stop) [[ $# == 2 ]] || usage; stop "$2" ;;
*) usage ;;
esac
