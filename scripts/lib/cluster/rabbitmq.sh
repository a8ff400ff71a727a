# shellcheck shell=bash
# scripts/cluster's RabbitMQ part: the three nodes warungin-{1,2,3}@localhost
# (their files, boot, clustering, partition healing), the rmq-* fault verbs
# and the RabbitMQ lines of status. Sourced by scripts/cluster, whose
# settings (RMQ_DIR, RMQ_BIN, STATE_DIR, TIMEOUT) and helpers (wait_until,
# kill_tree, pid_gone, ...) it uses.

rmq_node() { echo "warungin-$1@localhost"; }
rmq_dir() { echo "$RMQ_DIR/warungin-$1"; }
amqp_port() { echo $((5680 + $1)); }

rmq_check_n() { [[ "${1:-}" =~ ^[123]$ ]] || die "expected a node number 1, 2 or 3 (got '${1:-}')"; }

# rabbitmqctl as user rabbitmq with its HOME (the shared cookie), like
# Debian's wrapper, but without its su: a timeout then kills the whole CLI
# VM (su leaves it running, holding our pipe, while it waits on a frozen node).
rmqctl() { # node args...
  local n="$1"
  shift
  (cd / && timeout -s KILL "${RMQCTL_TIMEOUT:-60}" runuser -u rabbitmq -- env HOME=/var/lib/rabbitmq LC_ALL=C.UTF-8 \
    "$RMQ_BIN/rabbitmqctl" -q -n "$(rmq_node "$n")" "$@")
}

# The node's beam.smp, found by the marker its own env conf adds to the VM's
# arguments (3.10 starts distribution at boot, so the node name itself is
# not in the arguments); the machine's rabbit@localhost has no marker.
rmq_pid() { pgrep -u rabbitmq -f "beam\.smp .* -warungin_node $(rmq_node "$1") " | head -n 1 || true; }
rmq_alive() { local p; p="$(rmq_pid "$1")"; not_stopped "$p"; }

rmq_write_files() { # n: config, plugins and env conf of its own, never /etc/rabbitmq's
  local n="$1" d
  d="$(rmq_dir "$n")"
  install -d -m 755 -o rabbitmq -g rabbitmq "$d" "$d/mnesia" "$d/log"
  # Partition handling stays at the default (ignore). The only partition
  # this cluster on loopback can have is a node frozen for longer than
  # net_ticktime (60 s): its peers drop it and, on SIGCONT, both sides record
  # a partition. Tried: pause_minority does nothing then (the thawed node
  # reconnects at once and never sees itself in a minority), and autoheal
  # took about 2.5 minutes and first restarted a healthy node. So rmq-thaw
  # (and up) heal it the documented way, restarting the recording nodes one
  # at a time, in seconds (rmq_heal). net_ticktime stays at its default:
  # kills and stops are noticed at once (the distribution connection
  # closes), and a shorter tick would turn a busy 2-core machine's stalls
  # into partitions.
  cat >"$d/rabbitmq.conf" <<EOF
# warungin-$n of scripts/cluster
listeners.tcp.1 = 127.0.0.1:$(amqp_port "$n")
management.tcp.ip = 127.0.0.1
management.tcp.port = $((15680 + n))
prometheus.tcp.ip = 127.0.0.1
prometheus.tcp.port = $((15700 + n))
log.file.level = info
# connections show in the management API within a second, not five (the
# fault runs pick the node the run's connections are on)
collect_statistics_interval = 1000
EOF
  echo '[rabbitmq_management,rabbitmq_prometheus].' >"$d/enabled_plugins"
  # The distribution port is explicit: 3.10 otherwise derives it from the
  # AMQP port (+20000), which the listeners above do not set.
  cat >"$d/rabbitmq-env.conf" <<EOF
# warungin-$n of scripts/cluster, read instead of /etc/rabbitmq/rabbitmq-env.conf
NODENAME=$(rmq_node "$n")
CONFIG_FILE=$d/rabbitmq.conf
ADVANCED_CONFIG_FILE=$d/advanced.config
ENABLED_PLUGINS_FILE=$d/enabled_plugins
MNESIA_BASE=$d/mnesia
LOG_BASE=$d/log
PID_FILE=$d/pid
DIST_PORT=$((25680 + n))
ERL_EPMD_ADDRESS=127.0.0.1
SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1} -warungin_node $(rmq_node "$n")"
EOF
  chown rabbitmq:rabbitmq "$d"/*.conf "$d/enabled_plugins"
}

# Start a node in the background (-detached) as the machine's node runs: as
# user rabbitmq with its HOME, so every node shares /var/lib/rabbitmq's
# Erlang cookie and `rabbitmqctl -n warungin-N@localhost` works from root.
rmq_spawn() { # n
  local d
  d="$(rmq_dir "$1")"
  rmq_write_files "$1"
  (cd "$d" && runuser -u rabbitmq -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 \
    HOME=/var/lib/rabbitmq RABBITMQ_CONF_ENV_FILE="$d/rabbitmq-env.conf" \
    "$RMQ_BIN/rabbitmq-server" -detached) >>"$d/log/startup.log" 2>&1 \
    || die "warungin-$1 did not start: $(tail -n 5 "$d/log/startup.log")"
}

rmq_wait_booted() { # n
  wait_until "warungin-$1 to listen on $(amqp_port "$1")" "$TIMEOUT" listening "$(amqp_port "$1")"
  rmqctl "$1" await_startup --timeout "$TIMEOUT" >/dev/null || die "warungin-$1 did not finish booting"
}

rmq_cluster_json() { # n
  RMQCTL_TIMEOUT=20 rmqctl "$1" cluster_status --timeout 15 --formatter json 2>/dev/null
}

# cluster_status from the first node that answers, plus "asked": its number.
rmq_any_cluster_json() {
  local n json
  for n in 1 2 3; do
    rmq_alive "$n" || continue
    if json="$(rmq_cluster_json "$n")" && [ -n "$json" ]; then
      jq --arg n "$n" '. + {asked: $n}' <<<"$json"
      return 0
    fi
  done
  return 1
}

rmq_running_count() { local j; j="$(rmq_any_cluster_json)" && jq '.running_nodes | length' <<<"$j"; }
rmq_all_running() { [ "$(rmq_running_count 2>/dev/null)" = 3 ]; }

rmq_member() { # n: is node n one of node 1's cluster members
  rmq_cluster_json 1 | jq -e --arg n "$(rmq_node "$1")" '.disk_nodes + .ram_nodes | index($n) != null' >/dev/null
}

rmq_join() { # n: join node 1's cluster (resets the node)
  say "RabbitMQ: warungin-$1 joins warungin-1"
  rmqctl "$1" stop_app >/dev/null
  rmqctl "$1" join_cluster "$(rmq_node 1)" >/dev/null || die "warungin-$1 could not join warungin-1"
  rmqctl "$1" start_app >/dev/null
}

rmq_up() {
  local t0 n pid
  t0="$(now_ms)"
  # Boot all missing nodes at once: each boot is mostly waiting, and nodes
  # restarted together find each other's tables without the 30 s retries.
  for n in 1 2 3; do
    pid="$(rmq_pid "$n")"
    if [ -z "$pid" ]; then rmq_spawn "$n"; elif stopped "$pid"; then kill -CONT "$pid"; fi
  done
  for n in 1 2 3; do rmq_wait_booted "$n"; done
  for n in 2 3; do rmq_member "$n" || rmq_join "$n"; done
  wait_until "3 running RabbitMQ nodes" "$TIMEOUT" rmq_all_running
  if rmq_partitioned; then rmq_heal ""; fi
  say "RabbitMQ: 3 nodes running in one cluster ($(took "$t0"))"
}

# Erlang string literal contents: escape backslashes and double quotes.
erl_str() { local v="${1//\\/\\\\}"; echo "${v//\"/\\\"}"; }

cmd_rmq_leader() {
  local q="${1:-}" vhost="${2:-/}" n out expr
  [ -n "$q" ] || die "usage: scripts/cluster rmq-leader QUEUE [VHOST]"
  # Ra's own leaderboard on a running member, next to the leader that
  # list_queues shows (the queue record's). They agree, except while a
  # leader is frozen: the new leader is elected within seconds, but the
  # record (and so list_queues, whose cluster-wide form then blocks until the
  # frozen node is dropped, 45-75 s) keeps naming the frozen node until then.
  expr="Q = rabbit_misc:r(<<\"$(erl_str "$vhost")\"/utf8>>, queue, <<\"$(erl_str "$q")\"/utf8>>),
    case rabbit_amqqueue:lookup(Q) of
      {error, not_found} -> not_found;
      {ok, A} -> case amqqueue:get_type(A) of
        rabbit_quorum_queue -> {Ra, Rec} = amqqueue:get_pid(A),
          case ra_leaderboard:lookup_leader(Ra) of {_, L} -> {leader, L, Rec}; _ -> {no_leader, Rec} end;
        T -> {not_quorum, T}
      end
    end."
  for n in 1 2 3; do
    rmq_alive "$n" || continue
    out="$(RMQCTL_TIMEOUT=15 rmqctl "$n" eval "$expr" 2>/dev/null | tr -d ' \n')" || continue
    case "$out" in
      "{leader,'warungin-"[123]"@localhost',"*)
        [[ "$out" =~ ^\{leader,\'warungin-([123])@localhost\',\'([^\']*)\'\}$ ]] || die "unexpected answer: $out"
        [ "${BASH_REMATCH[2]}" = "warungin-${BASH_REMATCH[1]}@localhost" ] \
          || say "list_queues still names ${BASH_REMATCH[2]} (the queue record lags; Ra's leader is warungin-${BASH_REMATCH[1]})"
        echo "${BASH_REMATCH[1]}"
        return 0
        ;;
      not_found) die "no queue '$q' in vhost $vhost (asked warungin-$n)" ;;
      "{not_quorum,"*) die "queue '$q' is not a quorum queue ($out): it has no leader" ;;
      "{no_leader,"*) continue ;; # this member knows no leader (yet): ask the next one
      *) continue ;;
    esac
  done
  die "no running RabbitMQ node knows a leader for queue '$q' (an election may be under way, or no quorum)"
}

cmd_rmq_kill() {
  rmq_check_n "${1:-}"
  local t0 pid count
  t0="$(now_ms)"
  pid="$(rmq_pid "$1")"
  [ -n "$pid" ] || die "warungin-$1 is not running"
  # Only this node's VM and its port programs (erl_child_setup,
  # inet_gethost); epmd is shared with the machine's node and stays.
  count="$(kill_tree KILL "$pid")"
  wait_until "beam.smp $pid to exit" 30 pid_gone "$pid"
  echo "rmq-kill: killed warungin-$1 (beam.smp $pid and $((count - 1)) children, SIGKILL) in $(took "$t0")"
}

cmd_rmq_stop() {
  rmq_check_n "${1:-}"
  local t0 pid
  t0="$(now_ms)"
  pid="$(rmq_pid "$1")"
  [ -n "$pid" ] || die "warungin-$1 is not running"
  stopped "$pid" && die "warungin-$1 is frozen: rmq-thaw $1 first"
  rmqctl "$1" stop >/dev/null || die "rabbitmqctl stop failed for warungin-$1"
  wait_until "warungin-$1 (beam.smp $pid) to exit" "$TIMEOUT" pid_gone "$pid"
  echo "rmq-stop: stopped warungin-$1 gracefully in $(took "$t0")"
}

cmd_rmq_start() {
  rmq_check_n "${1:-}"
  local t0
  t0="$(now_ms)"
  [ -d "$(rmq_dir "$1")/mnesia" ] || die "warungin-$1 was never created: run scripts/cluster up"
  if [ -n "$(rmq_pid "$1")" ]; then
    rmq_alive "$1" || die "warungin-$1 is frozen: use rmq-thaw $1"
    say "warungin-$1 is already running"
  else
    rmq_spawn "$1"
  fi
  rmq_wait_booted "$1"
  wait_until "warungin-$1 to rejoin (3 running nodes)" "$TIMEOUT" rmq_all_running
  echo "rmq-start: warungin-$1 is back, 3 nodes running, in $(took "$t0")"
}

cmd_rmq_freeze() {
  rmq_check_n "${1:-}"
  local t0 pid
  t0="$(now_ms)"
  pid="$(rmq_pid "$1")"
  [ -n "$pid" ] || die "warungin-$1 is not running"
  kill -STOP "$pid"
  now_ms >"$STATE_DIR/rmq-frozen-$1"
  wait_until "beam.smp $pid to stop" 10 stopped "$pid"
  echo "rmq-freeze: froze warungin-$1 (SIGSTOP beam.smp $pid) in $(took "$t0")"
}

rmq_pings() { RMQCTL_TIMEOUT=10 rmqctl "$1" ping >/dev/null 2>&1; }
rmq_partitioned() { local j; j="$(rmq_any_cluster_json)" && [ "$(jq '.partitions | length' <<<"$j")" != 0 ]; }
rmq_whole() { local j; j="$(rmq_any_cluster_json)" && [ "$(jq '(.running_nodes | length) == 3 and (.partitions | length) == 0' <<<"$j")" = true ]; }

# The documented recovery from a partition: restart the nodes that record
# one, one at a time (the cluster keeps serving), until none does. The
# thawed node goes first; then, from the highest number down, the peers that
# still record it (RabbitMQ 3.10 does not always forget a partition when the
# other side restarts), or that split among themselves (peers that dropped
# the frozen node at different moments see a partial partition, which
# RabbitMQ turns into a full one).
rmq_heal() { # the thawed node's number, or ""
  local round j records n
  HEALED=""
  for round in 1 2 3 4; do
    j="$(rmq_any_cluster_json)" || die "no RabbitMQ node answers cluster_status"
    records="$(jq -r '.partitions | to_entries[] | select(.value | length > 0) | .key' <<<"$j" | sort -r)"
    [ -n "$records" ] || return 0
    n="$(grep -x "$(rmq_node "${1:-0}")" <<<"$records" || head -n 1 <<<"$records")"
    n="${n#warungin-}"
    n="${n%%@*}"
    say "RabbitMQ: partitions $(jq -c .partitions <<<"$j"): restarting warungin-$n (round $round)"
    rmqctl "$n" stop_app >/dev/null
    rmqctl "$n" start_app >/dev/null
    HEALED="${HEALED:+$HEALED }warungin-$n"
    wait_until_quiet 20 rmq_whole && return 0
  done
  die "RabbitMQ still records partitions after 4 restarts: $(jq -c .partitions <<<"$(rmq_any_cluster_json)")"
}

cmd_rmq_thaw() {
  rmq_check_n "${1:-}"
  local t0 pid since frozen_ms=0 what="it answers"
  t0="$(now_ms)"
  pid="$(rmq_pid "$1")"
  [ -n "$pid" ] || die "warungin-$1 is not running"
  since="$(cat "$STATE_DIR/rmq-frozen-$1" 2>/dev/null || echo "$t0")"
  kill -CONT "$pid"
  rm -f "$STATE_DIR/rmq-frozen-$1"
  frozen_ms=$((t0 - since))
  wait_until "beam.smp $pid to resume" 10 not_stopped "$pid"
  wait_until "warungin-$1 to answer ping" "$TIMEOUT" rmq_pings "$1"
  # Frozen past net_ticktime (peers give up after 45-75 s): both sides
  # record a partition within a moment of the reconnection.
  if ((frozen_ms >= 40000)) && wait_until_quiet 10 rmq_partitioned; then
    say "warungin-$1 was frozen $(secs "$frozen_ms") and its peers dropped it: healing the partition"
    rmq_heal "$1"
    what="partition healed (restarted: ${HEALED:-none}), 3 nodes running"
  fi
  echo "rmq-thaw: resumed warungin-$1 (SIGCONT beam.smp $pid) after $(secs "$frozen_ms") frozen, $what, in $(took "$t0")"
}

status_rabbitmq() {
  local json n ok=0 running
  # cluster_status on any node blocks on a frozen peer until the peers drop
  # it (net_ticktime): say so instead of waiting.
  for n in 1 2 3; do
    if stopped "$(rmq_pid "$n")"; then
      echo "rabbitmq: warungin-$n: frozen (SIGSTOP); cluster_status skipped, it would wait for the frozen node"
      return 1
    fi
  done
  if ! json="$(rmq_any_cluster_json)"; then
    echo "rabbitmq: no node answers (warungin-1..3)"
    return 1
  fi
  running="$(jq -r '.running_nodes | sort | join(" ")' <<<"$json")"
  echo "rabbitmq: $(jq '.running_nodes | length' <<<"$json")/3 nodes running: ${running:-none} (cluster_status of warungin-$(jq -r .asked <<<"$json"))"
  [ "$(jq '.running_nodes | length' <<<"$json")" = 3 ] || ok=1
  if [ "$(jq '.partitions | length' <<<"$json")" != 0 ]; then
    echo "rabbitmq: partitions: $(jq -c '.partitions' <<<"$json") (scripts/cluster up heals them)"
    ok=1
  fi
  # A killed VM is listed as running until its peers notice.
  for n in 1 2 3; do
    if [ -z "$(rmq_pid "$n")" ]; then
      echo "rabbitmq: warungin-$n: no process"
      ok=1
    fi
  done
  return $ok
}
