#!/usr/bin/env bash
# A three-node RabbitMQ cluster on this machine, beside the broker on 5672 (which it never touches): the
# failover test (npm run test:cluster) and the scale benchmark (npm run bench:scale) start and stop it here.
#
#   scripts/cluster.sh start          start clu1..3@localhost, join 2 and 3 to 1, print the AMQP URLs
#   scripts/cluster.sh stop           shut the nodes down (kill by pid file if they do not answer), remove DIR
#   scripts/cluster.sh stop-app N     stop the RabbitMQ app of node N (the node stays, its queues fail over)
#   scripts/cluster.sh leader QUEUE   the node (clu1@localhost, ...) that leads a quorum queue
#   scripts/cluster.sh status         cluster_status as node 1 sees it
#
# Environment: EXCHANGE_CLUSTER_DIR (/tmp/exchange-cluster), EXCHANGE_CLUSTER_PORT (5681: nodes listen on
# 5681..5683, distribution on 25681..25683). Every node is named cluN@localhost; every rabbitmqctl call names
# its node with -n and is bounded by `timeout`, so a wedged node cannot hang a test. One user at a time: the test and
# the benchmark both stop a cluster left in DIR by a run that was killed before they start their own, so run them
# one after the other (the node names are fixed, so two clusters cannot run side by side).
set -euo pipefail

dir=${EXCHANGE_CLUSTER_DIR:-/tmp/exchange-cluster}
base=${EXCHANGE_CLUSTER_PORT:-5681}
nodes=(1 2 3)

node_name() { echo "clu$1@localhost"; }
port_of() { echo $((base + $1 - 1)); }
ctl() { local n=$1; shift; timeout "${CTL_TIMEOUT:-60}" rabbitmqctl -q -n "$(node_name "$n")" "$@"; }

start_node() {
  local n=$1 home="$dir/$1"
  mkdir -p "$home/mnesia" "$home/log"
  # No plugins (no management listener on 15672 to collide with the shared broker's).
  echo '[].' > "$home/plugins"
  : > "$home/rabbitmq.conf"
  # rabbitmq-server runs as the rabbitmq user: it must own every folder it writes.
  chown -R rabbitmq:rabbitmq "$dir"
  env RABBITMQ_NODENAME="$(node_name "$n")" RABBITMQ_NODE_PORT="$(port_of "$n")" RABBITMQ_DIST_PORT=$((20000 + $(port_of "$n"))) \
    RABBITMQ_MNESIA_BASE="$home/mnesia" RABBITMQ_LOG_BASE="$home/log" RABBITMQ_PID_FILE="$home/pid" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$home/plugins" RABBITMQ_CONFIG_FILE="$home/rabbitmq" \
    rabbitmq-server -detached
}

# await_startup refuses at once while the node is not yet known to epmd: poll until it answers a ping.
wait_registered() {
  local n=$1 seconds=$2
  for _ in $(seq 1 "$seconds"); do
    if CTL_TIMEOUT=15 ctl "$n" ping >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  return 1
}

start() {
  if [ -d "$dir" ]; then
    echo "cluster: $dir exists (a cluster that was not stopped?): run '$0 stop' first" >&2
    exit 1
  fi
  mkdir -p "$dir"
  for n in "${nodes[@]}"; do start_node "$n"; done
  for n in "${nodes[@]}"; do
    wait_registered "$n" 180 && CTL_TIMEOUT=180 ctl "$n" await_startup \
      || { echo "cluster: $(node_name "$n") did not start; its log:" >&2; tail -n 30 "$dir/$n/log/"*.log >&2 || true; exit 1; }
  done
  for n in 2 3; do
    ctl "$n" stop_app
    ctl "$n" join_cluster "$(node_name 1)"
    ctl "$n" start_app
  done
  for n in "${nodes[@]}"; do CTL_TIMEOUT=120 ctl "$n" await_startup; done
  local running
  running=$(ctl 1 eval 'length(rabbit_nodes:all_running()).')
  if [ "$running" != 3 ]; then echo "cluster: $running of 3 nodes running after the joins" >&2; exit 1; fi
  for n in "${nodes[@]}"; do echo "amqp://guest:guest@127.0.0.1:$(port_of "$n")"; done
}

stop() {
  [ -d "$dir" ] || return 0
  for n in "${nodes[@]}"; do
    local pidfile="$dir/$n/pid"
    [ -f "$pidfile" ] || continue
    local pid
    pid=$(cat "$pidfile")
    CTL_TIMEOUT=60 ctl "$n" shutdown >/dev/null 2>&1 || true
    # A node that did not answer: this node's own pid, never a process found by name.
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
  done
  # epmd stays (the shared broker uses it too); the nodes' folders go.
  rm -rf "$dir"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  stop-app) ctl "$2" stop_app ;;
  start-app) ctl "$2" start_app ;;
  leader)
    # Ask a node whose app runs: the leader's own node may be the one that was stopped.
    for n in "${nodes[@]}"; do
      if out=$(timeout 30 rabbitmq-queues -q -n "$(node_name "$n")" quorum_status "$2" --formatter json 2>/dev/null); then
        leader=$(printf '%s' "$out" | node -e 'let s="";process.stdin.on("data",(c)=>{s+=c}).on("end",()=>{const row=JSON.parse(s).find((r)=>r["Raft State"]==="leader");if(row)process.stdout.write(row["Node Name"])})' || true)
        if [ -n "$leader" ]; then echo "$leader"; exit 0; fi
      fi
    done
    echo "cluster: no node could name the leader of $2" >&2
    exit 1
    ;;
  status) ctl 1 cluster_status ;;
  *) echo "usage: $0 start|stop|stop-app N|start-app N|leader QUEUE|status" >&2; exit 64 ;;
esac
