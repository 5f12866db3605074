#!/usr/bin/env bash
# A real SLURM on one machine, started by hand (no systemd, no cgroups), for the cluster tests.
#
#   bash cluster/slurm_local.sh start     # idempotent: writes slurm.conf, starts munged, slurmctld
#                                         # (with an empty queue), 3 slurmd
#   bash cluster/slurm_local.sh status    # sinfo of both partitions
#   bash cluster/slurm_local.sh stop      # ends the daemons (slurmd, slurmctld, munged) by their pid files
#   bash cluster/slurm_local.sh --help    # this usage (no command, or an unknown one: the usage, exit 2)
#
# Needs root and the Debian packages `slurmctld slurmd slurm-client slurm-wlm-basic-plugins munge`
# (cluster/ci_system_setup.sh installs them). One slurmctld serves two partitions that coexist:
#   solo  one node  `solo`            NodeAddr 127.0.0.1          (the default partition)
#   duo   two nodes `duo1` and `duo2` NodeAddr 127.0.0.2/127.0.0.3 (own slurmd each, own port)
# so a two-node job runs the real worker-join path of cluster/ray_sweep.sbatch on one machine.
set -euo pipefail

# --- settings (environment overrides) ---
SLURM_CONF_FILE=${SLURM_CONF_FILE:-/etc/slurm/slurm.conf}
SLURM_STATE_DIR=${SLURM_STATE_DIR:-/var/spool/slurm-local}
SLURM_LOG_DIR=${SLURM_LOG_DIR:-/var/log/slurm-local}
SLURM_RUN_DIR=${SLURM_RUN_DIR:-/run/slurm-local}
NODE_CPUS=${NODE_CPUS:-2}                 # CPUs each node advertises (the tests' jobs ask for 2 per node)
NODE_MEMORY_MB=${NODE_MEMORY_MB:-4096}    # RealMemory per node; CR_Core_Memory needs a figure
START_TIMEOUT_S=${START_TIMEOUT_S:-60}    # how long to wait for every node to be up

# name, address, slurmd port of every node
NODES=("solo 127.0.0.1 6818" "duo1 127.0.0.2 6819" "duo2 127.0.0.3 6820")

write_conf() {  # write slurm.conf; false when it was already the same
    local host
    host=$(hostname -s)
    mkdir -p "$(dirname "$SLURM_CONF_FILE")" "$SLURM_STATE_DIR" "$SLURM_LOG_DIR" "$SLURM_RUN_DIR"
    {
        echo "# written by cluster/slurm_local.sh: a by-hand single-machine SLURM for tests"
        echo "ClusterName=tuneired"
        echo "SlurmctldHost=${host}(127.0.0.1)"
        echo "SlurmctldPort=6817"
        echo "SlurmUser=root"
        echo "AuthType=auth/munge"
        echo "CredType=cred/munge"
        echo "ProctrackType=proctrack/linuxproc"
        echo "TaskPlugin=task/none"
        echo "JobAcctGatherType=jobacct_gather/none"
        echo "AccountingStorageType=accounting_storage/none"
        echo "JobCompType=jobcomp/filetxt"
        echo "JobCompLoc=${SLURM_LOG_DIR}/jobcomp.log"
        echo "SelectType=select/cons_tres"
        echo "SelectTypeParameters=CR_Core_Memory"
        echo "DefMemPerCPU=512"
        echo "MailProg=/bin/true"
        echo "MpiDefault=none"
        echo "ReturnToService=2"
        echo "SlurmdParameters=config_overrides"
        echo "MinJobAge=600"
        echo "GresTypes=fake"  # a countable resource with no device, so a --gres request can be tested
        echo "Licenses=fakelicence:2"  # a cluster-wide licence, so an -L request can be tested
        echo "KillWait=10"
        echo "StateSaveLocation=${SLURM_STATE_DIR}/ctld"
        echo "SlurmdSpoolDir=${SLURM_STATE_DIR}/d-%n"
        echo "SlurmctldPidFile=${SLURM_RUN_DIR}/slurmctld.pid"
        echo "SlurmdPidFile=${SLURM_RUN_DIR}/slurmd-%n.pid"
        echo "SlurmctldLogFile=${SLURM_LOG_DIR}/slurmctld.log"
        echo "SlurmdLogFile=${SLURM_LOG_DIR}/slurmd-%n.log"
        local node name addr port
        for node in "${NODES[@]}"; do
            read -r name addr port <<<"$node"
            echo "NodeName=${name} NodeHostname=${host} NodeAddr=${addr} Port=${port}" \
                "CPUs=${NODE_CPUS} RealMemory=${NODE_MEMORY_MB} Gres=fake:2 Feature=local State=UNKNOWN"
        done
        echo "PartitionName=solo Nodes=solo Default=YES MaxTime=INFINITE State=UP"
        echo "PartitionName=duo Nodes=duo1,duo2 MaxTime=INFINITE State=UP"
    } >"$SLURM_CONF_FILE.new"
    if cmp -s "$SLURM_CONF_FILE.new" "$SLURM_CONF_FILE"; then
        rm "$SLURM_CONF_FILE.new"
        return 1
    fi
    mv "$SLURM_CONF_FILE.new" "$SLURM_CONF_FILE"
}

alive() {  # alive PIDFILE: the process named in the pid file runs
    [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

start_munge() {
    alive /run/munge/munged.pid && return 0
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    chmod 0755 /run/munge
    [ -s /etc/munge/munge.key ] || { dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 2>/dev/null; }
    chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
    runuser -u munge -- /usr/sbin/munged </dev/null >/dev/null 2>&1  # it logs to /var/log/munge/munged.log
}

start_daemons() {
    mkdir -p "$SLURM_STATE_DIR/ctld"
    if ! alive "$SLURM_RUN_DIR/slurmctld.pid"; then
        # -c: a controller started here begins with an empty queue (a job an interrupted test
        # run left behind would otherwise be recovered and hold a node for its whole time limit)
        setsid slurmctld -D -i -c >>"$SLURM_LOG_DIR/slurmctld.out" 2>&1 </dev/null &
    fi
    local node name addr port
    for node in "${NODES[@]}"; do
        read -r name addr port <<<"$node"
        mkdir -p "$SLURM_STATE_DIR/d-$name"
        if ! alive "$SLURM_RUN_DIR/slurmd-$name.pid"; then
            setsid slurmd -D -N "$name" >>"$SLURM_LOG_DIR/slurmd-$name.out" 2>&1 </dev/null &
        fi
    done
}

wait_up() {  # every node idle (or running jobs), within START_TIMEOUT_S
    local deadline=$((SECONDS + START_TIMEOUT_S)) states
    while ((SECONDS < deadline)); do
        states=$(sinfo -h -N -o '%N %T' 2>/dev/null | sort -u || true)
        if [ "$(grep -cE ' (idle|mixed|allocated|completing)$' <<<"$states")" -eq "${#NODES[@]}" ]; then
            echo "slurm_local: all ${#NODES[@]} nodes up"
            return 0
        fi
        # a node left down or drained by an earlier run comes back with RESUME
        # (`|| true`: with pipefail, grep finding no such node would end the script)
        grep -E ' (down|drained|drain)' <<<"$states" | while read -r name _; do
            scontrol update NodeName="$name" State=RESUME 2>/dev/null || true
        done || true
        sleep 0.5
    done
    echo "slurm_local: nodes not up after ${START_TIMEOUT_S}s:" >&2
    sinfo -N >&2 || true
    tail -n 20 "$SLURM_LOG_DIR"/slurmctld.log >&2 || true
    return 1
}

stop_daemons() {
    local pidfile pid
    for pidfile in "$SLURM_RUN_DIR"/slurmd-*.pid "$SLURM_RUN_DIR/slurmctld.pid" /run/munge/munged.pid; do
        alive "$pidfile" || continue
        pid=$(cat "$pidfile")
        kill -TERM "$pid" 2>/dev/null || true  # it may have ended since
        while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
    done
}

usage() {
    echo "usage: $0 start|status|stop   (a local SLURM for the tests; see the script's header)"
}

case "${1:-}" in
    -h | --help) usage ;;
    start)
        if write_conf; then stop_daemons; fi  # a changed configuration needs fresh daemons (munged too: cheap)
        start_munge
        start_daemons
        wait_up
        ;;
    status) sinfo ;;
    stop) stop_daemons ;;
    *)
        usage >&2
        exit 2
        ;;
esac
