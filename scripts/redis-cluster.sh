#!/usr/bin/env bash
# Manages a local Redis Cluster (and a single plain Redis) on loopback for tests, examples and benchmarks.
# Idempotent: `start` on a healthy cluster, `single` on a live server, or `stop` with nothing running
# each do nothing and exit 0. Progress goes to stderr; machine-readable answers (seed address, port) to stdout.
#
#   scripts/redis-cluster.sh start [--dir DIR] [--base-port P] [--replicas 0|1]   prints the seed, e.g. 127.0.0.1:7100
#   scripts/redis-cluster.sh stop  [--dir DIR] [--base-port P]
#   scripts/redis-cluster.sh status [--base-port P]                              CLUSTER INFO and CLUSTER NODES
#   scripts/redis-cluster.sh kill-primary-of-slot SLOT [--base-port P]            SIGKILLs that primary, prints its port
#   scripts/redis-cluster.sh primary-of-slot SLOT | replica-of-slot SLOT           prints that node's port
#   scripts/redis-cluster.sh restart-node PORT [--dir DIR]                        starts a stopped node again
#   scripts/redis-cluster.sh single [--port P]                                   one non-cluster server (default 7099)
#   scripts/redis-cluster.sh stop-single [--port P]
#
# Defaults: --dir /tmp/partd-redis-cluster, --base-port 7100, --replicas 1 (3 primaries + 3 replicas on
# ports P..P+5; --replicas 0 makes 3 primaries on P..P+2). Node N lives in DIR/PORT with its own config,
# pidfile, logfile and nodes.conf. Nothing is persisted (no RDB, no AOF).
set -euo pipefail

HOST=127.0.0.1
DIR=/tmp/partd-redis-cluster
BASE=7100
REPLICAS=1
SINGLE_PORT=7099
SINGLE_ROOT=/tmp/partd-redis-single

log() { echo "redis-cluster: $*" >&2; }
die() { log "$*"; exit 1; }
usage() { sed -n '6,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

# redis-cli against one loopback port; never fails the script (an absent server is a normal answer).
cli() { local port=$1; shift; redis-cli -h "$HOST" -p "$port" "$@" 2>/dev/null || true; }
# One field ("name:value" line) of an INFO or CLUSTER INFO reply, with the trailing CR removed.
field() { tr -d '\r' | sed -n "s/^$1://p"; }
alive() { [ "$(cli "$1" ping)" = PONG ]; }

# Installs redis-server (which brings redis-cli) only when missing; apt-get update only if the first try fails.
ensure_redis() {
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null && return 0
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  local install=($sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server)
  log "installing redis-server"
  "${install[@]}" >/dev/null 2>&1 || { $sudo apt-get update -qq >/dev/null; "${install[@]}" >/dev/null; }
  command -v redis-server >/dev/null || die "redis-server still missing after apt-get install"
}

# True while PID is a live process. Not kill -0: a daemonized server that exited stays a zombie until
# PID 1 reaps it (about 2 s in some containers), though its ports are already free.
running() { local st; st=$(sed -n 's/^State:[[:space:]]*//p' "/proc/$1/status" 2>/dev/null) && [ -n "$st" ] && [ "${st:0:1}" != Z ]; }

# Stops whatever Redis answers on PORT (SHUTDOWN NOSAVE), else the process in DIR's pidfile; waits until gone.
stop_port() {
  local port=$1 pidfile=$2/redis.pid pid=""
  if alive "$port"; then
    pid=$(cli "$port" info server | field process_id)
    # NOW skips Redis 7's wait (shutdown-timeout, 10 s) for lagging replicas; older servers reject it.
    [ -z "$(cli "$port" shutdown nosave now)" ] || cli "$port" shutdown nosave >/dev/null
  fi
  # A pidfile survives a SIGKILL; trust its pid only if that process is still a redis-server.
  if [ -z "$pid" ] && [ -f "$pidfile" ]; then
    pid=$(cat "$pidfile")
    grep -qs redis "/proc/$pid/comm" || pid=""
  fi
  [ -n "$pid" ] || return 0
  for _ in $(seq 50); do running "$pid" || return 0; sleep 0.1; done
  log "port $port: pid $pid ignored SHUTDOWN, sending SIGKILL"
  kill -9 "$pid" 2>/dev/null || true
  for _ in $(seq 20); do running "$pid" || return 0; sleep 0.1; done
}

# Writes DIR/redis.conf for PORT (plus cluster lines when $3 is "cluster") and starts a daemonized server.
start_server() {
  local port=$1 dir=$2 mode=$3
  mkdir -p "$dir"
  {
    echo "port $port"; echo "bind $HOST"; echo "protected-mode no"; echo "daemonize yes"
    echo "dir $dir"; echo "pidfile $dir/redis.pid"; echo "logfile $dir/redis.log"
    echo 'save ""'; echo "appendonly no"
    echo "repl-diskless-sync-delay 0"  # Redis 7 otherwise waits 5 s before a replica's first sync
    if [ "$mode" = cluster ]; then
      echo "cluster-enabled yes"; echo "cluster-config-file nodes.conf"; echo "cluster-node-timeout 2000"
      echo "cluster-require-full-coverage no"; echo "cluster-allow-reads-when-down no"
    fi
  } >"$dir/redis.conf"
  redis-server "$dir/redis.conf" >/dev/null
  for _ in $(seq 50); do alive "$port" && return 0; sleep 0.1; done
  die "port $port: redis-server did not answer PING; see $dir/redis.log"
}

# The node count for the chosen replica setting, and the list of their ports.
nodes() { [ "$REPLICAS" -eq 1 ] && echo 6 || echo 3; }
ports() { seq "$BASE" $((BASE + $(nodes) - 1)); }

# Counts the replicas whose link to their primary is up.
linked() {
  local port n=0
  for port in $(ports); do [ "$(cli "$port" info replication | field master_link_status)" = up ] && n=$((n + 1)); done
  echo "$n"
}

# True when every node answers, agrees the cluster is ok with the expected size, sees every node
# "online" in CLUSTER SHARDS, and (with replicas) every replica's link to its primary is up. A replica
# whose replication offset is still 0 shows as "loading" there and is left out of CLUSTER SLOTS.
healthy() {
  local port info shards
  for port in $(ports); do
    info=$(cli "$port" cluster info)
    [ "$(field cluster_state <<<"$info")" = ok ] || return 1
    [ "$(field cluster_known_nodes <<<"$info")" = "$(nodes)" ] || return 1
    shards=$(cli "$port" cluster shards | tr -d '\r')
    case "$shards" in ERR*) ;; *) [ "$(grep -cx online <<<"$shards")" -eq "$(nodes)" ] || return 1 ;; esac  # ERR: Redis < 7
  done
  [ "$(linked)" -eq $((REPLICAS * 3)) ]
}

cmd_start() {
  ensure_redis
  if healthy; then log "cluster on $HOST:$BASE is already up"; echo "$HOST:$BASE"; return 0; fi
  local t0=$SECONDS port addrs=()
  log "(re)creating a $(nodes)-node cluster on $HOST:$BASE..$((BASE + $(nodes) - 1)) in $DIR"
  # Leftovers on any of the six ports (even from a run with another replica setting) go first.
  for port in $(seq "$BASE" $((BASE + 5))); do stop_port "$port" "$DIR/$port"; done
  rm -rf "$DIR"
  for port in $(ports); do start_server "$port" "$DIR/$port" cluster; addrs+=("$HOST:$port"); done
  TERM=dumb redis-cli --cluster create "${addrs[@]}" --cluster-replicas "$REPLICAS" --cluster-yes >&2  # TERM=dumb: no ANSI colours
  local flushed=0
  for _ in $(seq 300); do
    if healthy; then log "cluster ok after $((SECONDS - t0)) s"; echo "$HOST:$BASE"; return 0; fi
    # Once the replicas are linked, a FLUSHALL on each (empty) primary moves the replication offsets off
    # 0 now rather than at the next replica ping (10 s), so CLUSTER SLOTS lists the replicas sooner.
    if [ "$REPLICAS" -eq 1 ] && [ "$flushed" -eq 0 ] && [ "$(linked)" -eq 3 ]; then
      for port in $(ports); do
        [ "$(cli "$port" role | head -1)" = master ] && cli "$port" flushall >/dev/null
      done
      flushed=1
    fi
    sleep 0.1
  done
  die "cluster not ok within 30 s; see $DIR/*/redis.log"
}

cmd_stop() {
  local port
  for port in $(seq "$BASE" $((BASE + 5))); do stop_port "$port" "$DIR/$port"; done
  rm -rf "$DIR"
  log "stopped cluster on ports $BASE..$((BASE + 5)), removed $DIR"
}

cmd_status() {
  alive "$BASE" || die "nothing answers on $HOST:$BASE"
  cli "$BASE" cluster info | tr -d '\r'
  cli "$BASE" cluster nodes
}

# Finds the primary serving SLOT from CLUSTER NODES of any live node, SIGKILLs it and prints its port.
# The port of the live primary serving SLOT (with REPLICA=1: the port of that primary's connected replica).
port_of_slot() {
  local slot=$1 want=${2:-primary} port view="" target="" attempt
  [[ "$slot" =~ ^[0-9]+$ ]] && [ "$slot" -lt 16384 ] || die "slot must be 0..16383, got '$slot'"
  # A replica shows in the cluster's view only once it has attached to its primary, which can be a moment
  # after `start` returns: look again for up to 10 s before giving up.
  for attempt in $(seq 50); do
    target=$(node_of_slot "$slot" "$want")
    [ -n "$target" ] && break
    sleep 0.2
  done
  [ -n "$target" ] || die "no live $want serves slot $slot (or no cluster node answers on ports $BASE..$((BASE + 5)))"
  echo "$target"
}

# The port of the live primary (or a live replica of it) that serves SLOT in one node's view, or nothing.
node_of_slot() {
  local slot=$1 want=$2 port view=""
  for port in $(seq "$BASE" $((BASE + 5))); do alive "$port" && { view=$(cli "$port" cluster nodes); break; }; done
  [ -n "$view" ] || return 0
  # Fields: id host:port@cport[,hostname] flags master|primary-id ping pong epoch link slot-range...
  awk -v s="$slot" -v want="$want" '
      { split($2, a, "@"); sub(/.*:/, "", a[1]); portof[$1] = a[1]; flags[$1] = $3; master[$1] = $4 }
      $3 ~ /master/ && $3 !~ /fail/ {
        for (i = 9; i <= NF; i++) { if ($i ~ /^\[/) continue
          n = split($i, r, "-"); lo = r[1]; hi = (n == 2 ? r[2] : r[1])
          if (s + 0 >= lo + 0 && s + 0 <= hi + 0) owner = $1 } }
      END { if (owner == "") exit
            if (want == "primary") { print portof[owner]; exit }
            for (id in master) if (master[id] == owner && flags[id] ~ /slave/ && flags[id] !~ /fail/) { print portof[id]; exit } }' <<<"$view"
}

cmd_kill_primary_of_slot() {
  local slot=$1 target pid
  target=$(port_of_slot "$slot" primary)
  pid=$(cli "$target" info server | field process_id)
  [ -n "$pid" ] || die "port $target did not report its process_id"
  kill -9 "$pid"
  log "SIGKILLed pid $pid, the primary of slot $slot on port $target"
  echo "$target"
}

# Starts the node on PORT again from its directory, keeping its nodes.conf: a primary that was failed
# over rejoins as a replica of its successor.
cmd_restart_node() {
  local port=$1
  [ -f "$DIR/$port/redis.conf" ] || die "no node directory $DIR/$port"
  alive "$port" && { log "node $port is already up"; return 0; }
  redis-server "$DIR/$port/redis.conf" >/dev/null
  for _ in $(seq 50); do alive "$port" && { log "node $port restarted"; return 0; }; sleep 0.1; done
  die "port $port: redis-server did not answer PING; see $DIR/$port/redis.log"
}

cmd_single() {
  ensure_redis
  if alive "$SINGLE_PORT"; then log "redis on $HOST:$SINGLE_PORT is already up"; echo "$HOST:$SINGLE_PORT"; return 0; fi
  stop_port "$SINGLE_PORT" "$SINGLE_ROOT/$SINGLE_PORT"
  rm -rf "${SINGLE_ROOT:?}/$SINGLE_PORT"
  start_server "$SINGLE_PORT" "$SINGLE_ROOT/$SINGLE_PORT" single
  log "redis on $HOST:$SINGLE_PORT started"
  echo "$HOST:$SINGLE_PORT"
}

cmd_stop_single() {
  stop_port "$SINGLE_PORT" "$SINGLE_ROOT/$SINGLE_PORT"
  rm -rf "${SINGLE_ROOT:?}/$SINGLE_PORT"
  rmdir "$SINGLE_ROOT" 2>/dev/null || true
  log "stopped redis on port $SINGLE_PORT"
}

# Argument parsing: the command, an optional positional (the slot), then options.
[ $# -ge 1 ] || usage
cmd=$1; shift
slot=""
case "$cmd" in kill-primary-of-slot|primary-of-slot|replica-of-slot|restart-node) [ $# -ge 1 ] || usage; slot=$1; shift ;; esac
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) DIR=${2:?--dir needs a value}; shift 2 ;;
    --base-port) BASE=${2:?--base-port needs a value}; shift 2 ;;
    --replicas) REPLICAS=${2:?--replicas needs a value}; shift 2 ;;
    --port) SINGLE_PORT=${2:?--port needs a value}; shift 2 ;;
    *) usage ;;
  esac
done
[[ "$REPLICAS" =~ ^[01]$ ]] || die "--replicas must be 0 or 1"
[[ "$BASE$SINGLE_PORT" =~ ^[0-9]+$ ]] || die "ports must be numbers"
[ -n "$DIR" ] && [ "$DIR" != / ] || die "refusing --dir '$DIR'"
case "$cmd" in status|*-slot|restart-node) command -v redis-cli >/dev/null || die "redis-cli is not installed; run '$0 start' first" ;; esac

case "$cmd" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  kill-primary-of-slot) cmd_kill_primary_of_slot "$slot" ;;
  primary-of-slot) port_of_slot "$slot" primary ;;
  replica-of-slot) port_of_slot "$slot" replica ;;
  restart-node) cmd_restart_node "$slot" ;;
  single) cmd_single ;;
  stop-single) cmd_stop_single ;;
  *) usage ;;
esac
