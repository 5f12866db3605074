#!/usr/bin/env bash
# One Ray node of a SLURM job, for cluster/ray_sweep.sbatch (run through `srun`, one task per node).
#
#   ray_node.sh ip NODENAME             print the IPv4 address of a SLURM node (its NodeAddr, resolved)
#   ray_node.sh head                    run the Ray head on this node until SIGTERM
#   ray_node.sh worker HEAD_ADDR INDEX  run a Ray worker joined to HEAD_ADDR (HOST:PORT) until SIGTERM
#   ray_node.sh wait HEAD_ADDR IP...    wait until one node per IP has joined (RAY_JOIN_TIMEOUT_S)
#   ray_node.sh --help                  this usage (no argument, or an unknown one: the usage, exit 2)
#
# Settings come from the environment the batch script exports: PYTHON, RAY_PORT_BASE,
# RAY_TEMP_DIR, RAY_NUM_CPUS, RAY_NUM_GPUS, RAY_JOIN_TIMEOUT_S and the token auth variables
# RAY_AUTH_MODE and RAY_AUTH_TOKEN_PATH. `ray start --block` runs in a process group of its own,
# a handle on everything it starts. On SIGTERM (the batch script ending the step) this script
# stops Ray in order: SIGTERM to `ray start` (it ends its own children), after RAY_STOP_GRACE_S
# SIGKILL to whatever of the group is left, and SIGKILL to any process of this user naming
# RAY_TEMP_DIR (unique per job: /tmp/ray-<jobid>). SLURM's own end of the step backs this up.
set -euo pipefail

RAY_STOP_GRACE_S=${RAY_STOP_GRACE_S:-20}   # `ray start` tears its processes down in ~5 s once draining is off
# Draining a node on SIGTERM waits for running work; a sweep that is stopping has none worth waiting for.
export RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S=0
GCS_OFFSET=0 DASHBOARD_OFFSET=1 CLIENT_OFFSET=2 AGENT_OFFSET=3   # ports above RAY_PORT_BASE (see the sbatch)

node_ip() {  # node_ip NODENAME: RAY_NODE_IP if set, else the node's NodeAddr resolved to IPv4
    local addr
    if [ -n "${RAY_NODE_IP:-}" ]; then
        echo "$RAY_NODE_IP"
        return
    fi
    addr=$(scontrol show node "$1" | grep -o 'NodeAddr=[^ ]*' | cut -d= -f2)
    if [[ ! $addr =~ ^[0-9.]+$ ]]; then
        addr=$(getent ahostsv4 "$addr" | awk 'NR == 1 {print $1}')
    fi
    [ -n "$addr" ] || { echo "ray_node.sh: no IPv4 address for SLURM node '$1'" >&2; exit 1; }
    echo "$addr"
}

gpu_count() {  # GPUs SLURM gave this step: RAY_NUM_GPUS if set, else the entries of CUDA_VISIBLE_DEVICES
    if [ -n "${RAY_NUM_GPUS:-}" ]; then
        echo "$RAY_NUM_GPUS"
    elif [ -n "${CUDA_VISIBLE_DEVICES:-}" ]; then
        tr ',' '\n' <<<"$CUDA_VISIBLE_DEVICES" | grep -c .
    else
        echo 0
    fi
}

run_ray() {  # run_ray ARGS...: `ray start --block ARGS` in its own process group; stop it on TERM/INT
    local ip pid rc=0
    ip=$(node_ip "$SLURMD_NODENAME")
    setsid ray start --block --node-ip-address="$ip" --num-cpus="${RAY_NUM_CPUS:-$SLURM_CPUS_ON_NODE}" \
        --num-gpus="$(gpu_count)" --temp-dir="$RAY_TEMP_DIR" --disable-usage-stats "$@" &
    pid=$!
    # shellcheck disable=SC2064  # the pid is fixed now, on purpose
    trap "stop_ray $pid; exit 0" TERM INT
    echo "ray_node.sh: $SLURMD_NODENAME ($ip) runs Ray as process group $pid"
    wait "$pid" || rc=$?
    stop_ray "$pid"  # `ray start` ended by itself (a crash): end what is left of its group
    exit "$rc"
}

stop_ray() {  # stop_ray PID: SIGTERM to `ray start`, then SIGKILL its process group after the grace time
    local pid=$1 deadline=$((SECONDS + RAY_STOP_GRACE_S))
    trap - TERM INT
    kill -TERM "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    # Ray's workers run in process groups of their own, and one forked while Ray was stopping can
    # outlive its raylet for a while; every process of this job's Ray names its temp dir.
    pkill -KILL -u "$(id -u)" -f -- "$RAY_TEMP_DIR/" || true
}

wait_for_nodes() {  # wait_for_nodes HEAD_ADDR IP...: one live Ray node per IP, else a clear error
    local head=$1
    shift
    "${PYTHON:-python}" - "$head" "${RAY_JOIN_TIMEOUT_S:-300}" "$@" <<'EOF'
import socket
import sys
import time

import ray

head, timeout, wanted = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
POLL_S = 0.5  # how often the head's port and the node list are read while waiting
deadline = time.monotonic() + timeout
host, port = head.rsplit(":", 1)
while True:  # ray.init would wait minutes for a GCS that is not listening yet: wait for its port first
    try:
        socket.create_connection((host, int(port)), timeout=POLL_S).close()
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit(f"ray_node.sh: no Ray head answered at {head} within {timeout:.0f} s; see the head's log above.")
        time.sleep(POLL_S)
ray.init(address=head, logging_level="ERROR", log_to_driver=False)
# Nodes are counted: Ray may advertise a node under another address than SLURM's (127.0.0.1 becomes the host's).
while True:
    joined = {node["NodeManagerAddress"] for node in ray.nodes() if node["Alive"]}
    if len(joined) >= len(wanted):
        print(f"ray_node.sh: all {len(wanted)} nodes joined: {' '.join(sorted(joined))}", flush=True)
        break
    if time.monotonic() > deadline:
        sys.exit(
            f"ray_node.sh: after {timeout:.0f} s only {len(joined)} of {len(wanted)} nodes had joined the Ray "
            f"cluster at {head}; missing: {' '.join(sorted(set(wanted) - joined))} (joined: {' '.join(sorted(joined))}). "
            "Check their worker lines above; raise RAY_JOIN_TIMEOUT_S if they are only slow."
        )
    time.sleep(POLL_S)
ray.shutdown()
EOF
}

usage() {
    echo "usage: $0 ip NODENAME | head | worker HEAD_ADDR INDEX | wait HEAD_ADDR IP... (see the script's header)"
}

case "${1:-}" in
    -h | --help) usage ;;
    ip) node_ip "$2" ;;
    head)
        ip=$(node_ip "$SLURMD_NODENAME")
        run_ray --head --port=$((RAY_PORT_BASE + GCS_OFFSET)) \
            --dashboard-host="$ip" --dashboard-port=$((RAY_PORT_BASE + DASHBOARD_OFFSET)) \
            --ray-client-server-port=$((RAY_PORT_BASE + CLIENT_OFFSET)) \
            --dashboard-agent-listen-port=$((RAY_PORT_BASE + AGENT_OFFSET))
        ;;
    worker)
        run_ray --address="$2" --dashboard-agent-listen-port=$((RAY_PORT_BASE + AGENT_OFFSET + 1 + $3))
        ;;
    wait)
        shift
        wait_for_nodes "$@"
        ;;
    *)
        usage >&2
        exit 2
        ;;
esac
