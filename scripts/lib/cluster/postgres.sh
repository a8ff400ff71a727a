# shellcheck shell=bash
# scripts/cluster's PostgreSQL part: nodes a (5441) and b (5442), their
# configuration, creation, promotion and pg_rewind rejoin, the pg-* fault
# verbs and the PostgreSQL lines of status. Sourced by scripts/cluster,
# whose settings (PG_DIR, PG_RUN, PG_BIN, BR_CONF, STANZA, TIMEOUT) and
# helpers it uses; pg_up calls br_configure of pgbackrest.sh.

pg_port() { if [ "$1" = a ]; then echo 5441; else echo 5442; fi; }
pg_other() { if [ "$1" = a ]; then echo b; else echo a; fi; }
pg_data() { echo "$PG_DIR/$1/data"; }
pg_conf() { echo "$PG_DIR/$1/postgresql.conf"; }
pg_log() { echo "$PG_DIR/$1/postgresql.log"; }
pg_has_data() { [ -f "$(pg_data "$1")/PG_VERSION" ]; }

as_pg() { (cd / && runuser -u postgres -- "$@"); }

# Admin queries over the cluster's socket directory. synchronous_commit is
# local for these sessions: with synchronous_standby_names = '*' and no
# standby connected (yet), a commit would otherwise wait forever.
psql_q() { # port sql
  PGCONNECT_TIMEOUT=3 PGOPTIONS='-c synchronous_commit=local' timeout 30 \
    psql -X -q -At -v ON_ERROR_STOP=1 -h "$PG_RUN" -p "$1" -U postgres -d postgres -c "$2"
}

pg_is_up() { pg_isready -q -t 2 -h "$PG_RUN" -p "$(pg_port "$1")"; }
pg_recovery() { psql_q "$(pg_port "$1")" 'SELECT pg_is_in_recovery()' 2>/dev/null || true; }
pg_accepts_writes() { [ "$(psql_q "$(pg_port "$1")" 'SELECT txid_current() > 0' 2>/dev/null)" = t ]; }

pg_postmaster() { # node: the postmaster's pid when it runs
  local pidfile pid
  pidfile="$(pg_data "$1")/postmaster.pid"
  [ -r "$pidfile" ] || return 0
  pid="$(head -n 1 "$pidfile")"
  if pid_alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "-D $(pg_data "$1") "; then echo "$pid"; fi
}

state_primary() { cat "$STATE_DIR/pg-primary" 2>/dev/null || echo a; }
set_state_primary() { echo "$1" >"$STATE_DIR/pg-primary"; }

# The running primary, derived from pg_is_in_recovery() (and recorded).
pg_running_primary() {
  local n found=()
  for n in a b; do [ "$(pg_recovery "$n")" = f ] && found+=("$n"); done
  case ${#found[@]} in
    1) set_state_primary "${found[0]}" && echo "${found[0]}" ;;
    0) return 1 ;;
    *) die "both a and b accept writes (split brain): stop one, then pg-rejoin" ;;
  esac
}

pg_write_conf() { # node: its configuration, outside the data directory so that
  # pg_basebackup, pg_rewind and pgBackRest restores never carry it along
  local n="$1" d
  d="$PG_DIR/$n"
  cat >"$d/postgresql.conf" <<EOF
# node $n of scripts/cluster
data_directory = '$(pg_data "$n")'
hba_file = '$d/pg_hba.conf'
ident_file = '$d/pg_ident.conf'
port = $(pg_port "$n")
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PG_RUN'
cluster_name = 'warungin-$n'
max_connections = 200
shared_buffers = 128MB
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
wal_keep_size = 256MB
hot_standby = on
hot_standby_feedback = on
# whichever node is primary waits for the other: RPO 0 on failover
synchronous_standby_names = '*'
synchronous_commit = on
# only the primary archives (archive_mode = on; pgBackRest refuses
# "always", where two servers would push differing copies of one segment).
# A segment the old primary completed but had not archived when it died is
# not in the archive: take a backup after a failover (RUNBOOK).
# --pg1-path because %p is relative to this node's data directory
archive_mode = on
archive_command = 'pgbackrest --config=$BR_CONF --stanza=$STANZA --pg1-path=$(pg_data "$n") archive-push %p'
archive_timeout = $ARCHIVE_TIMEOUT
restore_command = 'pgbackrest --config=$BR_CONF --stanza=$STANZA --pg1-path=$(pg_data "$n") archive-get %f "%p"'
recovery_target_timeline = 'latest'
log_line_prefix = '%m [%p] %q%u@%d '
log_checkpoints = on
EOF
  cat >"$d/pg_hba.conf" <<'EOF'
# trust on loopback, like the machine's test cluster; the postgres role has
# the password "postgres" too, for clients that send one
local   all          all                 trust
host    all          all   127.0.0.1/32  trust
local   replication  all                 trust
host    replication  all   127.0.0.1/32  trust
EOF
  : >"$d/pg_ident.conf"
  chown postgres:postgres "$d/postgresql.conf" "$d/pg_hba.conf" "$d/pg_ident.conf"
}

pg_start() { # node
  local n="$1"
  as_pg "$PG_BIN/pg_ctl" -D "$(pg_data "$n")" -o "--config-file=$(pg_conf "$n")" -l "$(pg_log "$n")" \
    -w -t "$TIMEOUT" start >/dev/null || die "PostgreSQL $n did not start: $(tail -n 5 "$(pg_log "$n")")"
}

pg_stop() { # node mode
  as_pg "$PG_BIN/pg_ctl" -D "$(pg_data "$1")" -m "$2" -w -t "$TIMEOUT" stop >/dev/null \
    || die "PostgreSQL $1 did not stop ($2)"
}

pg_ensure_slot() { # primary slot: reserve WAL at once, so WAL written while
  # the standby is away (failed over, rewinding) stays until it streams again
  psql_q "$(pg_port "$1")" "SELECT pg_create_physical_replication_slot('$2', true)
    WHERE NOT EXISTS (SELECT FROM pg_replication_slots WHERE slot_name = '$2')" >/dev/null \
    || die "cannot create replication slot $2 on $1"
}

# Recovery settings of a standby: stream from the other node through the
# slot named after itself; application_name is what pg_stat_replication shows.
pg_standby_settings() { # node upstream
  local data auto
  data="$(pg_data "$1")"
  auto="$data/postgresql.auto.conf"
  touch "$auto"
  sed -i -E '/^[[:space:]]*(primary_conninfo|primary_slot_name)[[:space:]]*=/d' "$auto"
  printf "primary_conninfo = 'host=127.0.0.1 port=%s user=postgres application_name=%s'\nprimary_slot_name = 'node_%s'\n" \
    "$(pg_port "$2")" "$1" "$1" >>"$auto"
  touch "$data/standby.signal"
  chown postgres:postgres "$auto" "$data/standby.signal"
  chmod 600 "$auto" "$data/standby.signal"
}

pg_sync_state() { # primary standby
  psql_q "$(pg_port "$1")" "SELECT sync_state FROM pg_stat_replication WHERE application_name = '$2'" 2>/dev/null || true
}
pg_is_sync() { [ "$(pg_sync_state "$1" "$2")" = sync ]; }
pg_is_async() { [ "$(pg_sync_state "$1" "$2")" = async ]; }
# sync, or async when the primary waits for no standby (after pg-async):
# the state a rejoined standby must reach.
pg_is_standby_as_set() {
  local want=sync
  [ -n "$(psql_q "$(pg_port "$1")" 'SHOW synchronous_standby_names' 2>/dev/null)" ] || want=async
  [ "$(pg_sync_state "$1" "$2")" = "$want" ]
}
pg_not_in_recovery() { [ "$(pg_recovery "$1")" = f ]; }

pg_create_primary() { # node
  local n="$1" data
  data="$(pg_data "$n")"
  say "PostgreSQL: initdb $n (data checksums)"
  install -d -m 755 -o postgres -g postgres "$PG_DIR/$n"
  install -d -m 700 -o postgres -g postgres "$data"
  as_pg "$PG_BIN/initdb" -D "$data" --data-checksums -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
    >"$PG_DIR/$n/initdb.log" 2>&1 || die "initdb failed: $(tail -n 5 "$PG_DIR/$n/initdb.log")"
  pg_write_conf "$n"
  pg_start "$n"
  psql_q "$(pg_port "$n")" "ALTER ROLE postgres PASSWORD 'postgres'" >/dev/null
  set_state_primary "$n"
}

pg_create_standby() { # node primary
  local n="$1" p="$2" data
  data="$(pg_data "$n")"
  say "PostgreSQL: pg_basebackup $p -> $n (standby, slot node_$n)"
  install -d -m 755 -o postgres -g postgres "$PG_DIR/$n"
  rm -rf "$data"
  pg_ensure_slot "$p" "node_$n"
  as_pg "$PG_BIN/pg_basebackup" -h "$PG_RUN" -p "$(pg_port "$p")" -U postgres -D "$data" \
    -X stream -R -S "node_$n" --checkpoint=fast >"$PG_DIR/$n/basebackup.log" 2>&1 \
    || die "pg_basebackup failed: $(tail -n 5 "$PG_DIR/$n/basebackup.log")"
  pg_write_conf "$n"
  pg_standby_settings "$n" "$p"
  pg_start "$n"
  wait_until "$n to be a sync standby of $p" "$TIMEOUT" pg_is_sync "$p" "$n"
}

# What the old primary had written past the point where the servers
# diverged: the crash recovery pg_rewind runs replays the old primary's WAL
# to its end ("redo done at" the last record); a last record at or past the
# divergence LSN means commits the failover lost. None with a synchronous
# standby; measured for the async run (RELIABILITY.md). Sets REWOUND.
pg_rewound_bytes() { # new-primary rewind-log
  local last diverged diff
  REWOUND=unknown
  last="$(sed -nE 's/.*redo done at ([0-9A-F]+\/[0-9A-F]+).*/\1/p' "$2" | tail -n 1)"
  diverged="$(sed -nE 's/.*diverged at WAL location ([0-9A-F]+\/[0-9A-F]+).*/\1/p' "$2" | tail -n 1)"
  [ -n "$last" ] && [ -n "$diverged" ] || return 0
  diff="$(psql_q "$(pg_port "$1")" "SELECT pg_wal_lsn_diff('$last', '$diverged')::bigint")" || return 0
  if [ "$diff" -lt 0 ]; then REWOUND=none; else REWOUND="at least $((diff + 1)) bytes"; fi
  say "PostgreSQL: the old primary's last record at $last, divergence at $diverged: WAL lost by the failover: $REWOUND"
}

# Turn the node that is not the running primary into its standby again.
pg_rejoin() {
  local new old data out pid
  new="$(pg_running_primary)" || die "no primary is running: pg-promote first"
  old="$(pg_other "$new")"
  data="$(pg_data "$old")"
  pg_has_data "$old" || { pg_create_standby "$old" "$new"; return 0; }
  pid="$(head -n 1 "$data/postmaster.pid" 2>/dev/null || true)"
  if [ -n "$pid" ] && ! pid_alive "$pid"; then wait_until "the old postmaster $pid to be reaped" 30 pid_reaped "$pid"; fi
  if [ -n "$(pg_postmaster "$old")" ]; then
    if [ "$(pg_recovery "$old")" = t ] && pg_is_sync "$new" "$old"; then
      say "PostgreSQL: $old already streams from $new"
      return 0
    fi
    pg_stop "$old" fast
  fi
  pg_ensure_slot "$new" "node_$old"
  # pg_rewind reads the source's timeline from its control file, which a
  # just-promoted server updates only at its next checkpoint: without this
  # it says "no rewind required" and the old primary cannot follow.
  psql_q "$(pg_port "$new")" CHECKPOINT >/dev/null || die "CHECKPOINT on $new failed"
  # PostgreSQL 15's pg_rewind runs crash recovery itself (single-user mode)
  # when the target was not shut down cleanly, e.g. after kill -9. Under
  # load the old primary may have recycled the WAL back to its last
  # checkpoint before the divergence: --restore-target-wal fetches it from
  # the archive with the node's restore_command (the fault run found this).
  out="$PG_DIR/$old/rewind.log"
  as_pg "$PG_BIN/pg_rewind" --target-pgdata="$data" --restore-target-wal --config-file="$(pg_conf "$old")" \
    --source-server="host=$PG_RUN port=$(pg_port "$new") user=postgres dbname=postgres" >"$out" 2>&1 \
    || die "pg_rewind of $old from $new failed: $(tail -n 5 "$out")"
  say "PostgreSQL: pg_rewind $old from $new: $(grep -E 'Done!|no rewind required|diverged' "$out" | tr '\n' ' ')"
  pg_rewound_bytes "$new" "$out"
  cat "$out" >>"$PG_DIR/$old/rewinds.log"
  # Slots the old primary kept for the other node would pin WAL forever on
  # a standby; it gets fresh ones if it is promoted again.
  find "$data/pg_replslot" -mindepth 1 -delete
  pg_standby_settings "$old" "$new"
  pg_start "$old"
  wait_until "$old to be a standby of $new (sync unless pg-async)" "$TIMEOUT" pg_is_standby_as_set "$new" "$old"
}

pg_promote() { # promote the running standby; refuses while a primary runs
  local s p
  if p="$(pg_running_primary)"; then die "$p is still the primary: stop or kill it first (pg-switchover does a planned one)"; fi
  s=""
  for p in a b; do [ "$(pg_recovery "$p")" = t ] && s="$p"; done
  [ -n "$s" ] || die "no standby is running to promote"
  as_pg "$PG_BIN/pg_ctl" -D "$(pg_data "$s")" -w -t "$TIMEOUT" promote >/dev/null || die "pg_ctl promote $s failed"
  wait_until "$s to leave recovery" "$TIMEOUT" pg_not_in_recovery "$s"
  wait_until "$s to accept writes" "$TIMEOUT" pg_accepts_writes "$s"
  pg_ensure_slot "$s" "node_$(pg_other "$s")"
  set_state_primary "$s"
  PROMOTED="$s"
}

pg_up() {
  local t0 p o
  t0="$(now_ms)"
  if ! pg_has_data a && ! pg_has_data b; then
    pg_create_primary a
    br_configure
    pg_create_standby b a
  else
    p="$(state_primary)"
    o="$(pg_other "$p")"
    pg_has_data "$p" || die "the state file names $p as primary but $(pg_data "$p") is empty: scripts/cluster down, then up"
    [ -n "$(pg_postmaster "$p")" ] || pg_start "$p"
    wait_until "$p to accept connections" "$TIMEOUT" pg_is_up "$p"
    [ "$(pg_recovery "$p")" = f ] || die "$p (the recorded primary) is in recovery: check with scripts/cluster status"
    br_configure
    if [ -n "$(pg_postmaster "$o")" ]; then
      [ "$(pg_recovery "$o")" = t ] || pg_rejoin
    elif [ -f "$(pg_data "$o")/standby.signal" ]; then
      pg_start "$o"
    else
      pg_rejoin # no data yet, or an old primary that must be rewound first
    fi
    wait_until "$o to be a standby of $p (sync unless pg-async)" "$TIMEOUT" pg_is_standby_as_set "$p" "$o"
  fi
  say "PostgreSQL: primary $(state_primary), sync standby $(pg_other "$(state_primary)") ($(took "$t0"))"
}

cmd_pg_primary() {
  local p
  p="$(pg_running_primary)" || die "no PostgreSQL node accepts writes (last known primary: $(state_primary))"
  echo "$p $(pg_port "$p")"
}

pg_node_gone() { # node: no process titled as one of its own is left (each one found is killed)
  local pids
  pids="$(pgrep -f "^postgres: warungin-$1: " || true)"
  [ -z "$pids" ] && return 0
  # shellcheck disable=SC2086 # one pid per word
  kill -KILL $pids 2>/dev/null || true
  return 1
}

cmd_pg_kill_primary() {
  local t0 p pid count
  t0="$(now_ms)"
  p="$(pg_running_primary)" || die "no primary is running"
  pid="$(pg_postmaster "$p")"
  [ -n "$pid" ] || die "cannot find the postmaster of $p"
  count="$(kill_tree KILL "$pid")"
  # A backend forked between listing the tree and the kill survives it,
  # orphaned and still attached to the shared memory, and pg_rewind's crash
  # recovery then refuses the data directory (the fault run found this
  # under load): kill by the node's process title until none is left.
  wait_until "every process of $p to exit" 30 pg_node_gone "$p"
  # reaped, not just dead: until then pg_rewind takes it for a running server
  wait_until "postmaster $pid to be reaped" 30 pid_reaped "$pid"
  wait_until "port $(pg_port "$p") to close" 30 not_listening "$(pg_port "$p")"
  echo "pg-kill-primary: killed $p (postmaster $pid and $((count - 1)) children, SIGKILL) in $(took "$t0")"
}

cmd_pg_promote() {
  local t0
  t0="$(now_ms)"
  pg_promote
  echo "pg-promote: promoted $PROMOTED ($(pg_port "$PROMOTED")), it accepts writes, in $(took "$t0")"
}

cmd_pg_rejoin() {
  local t0 p
  t0="$(now_ms)"
  pg_rejoin
  p="$(state_primary)"
  echo "pg-rejoin: $(pg_other "$p") is a sync standby of $p again in $(took "$t0")"
}

cmd_pg_failover() {
  local t0 t1 t2 t3 killed
  t0="$(now_ms)"
  killed="$(cmd_pg_kill_primary)"
  say "$killed"
  t1="$(now_ms)"
  pg_promote
  t2="$(now_ms)"
  say "PostgreSQL: promoted $PROMOTED in $(took "$t1")"
  pg_rejoin
  t3="$(now_ms)"
  echo "pg-failover: $(pg_other "$PROMOTED") killed, $PROMOTED promoted, $(pg_other "$PROMOTED") rejoined as standby in $(took "$t0") (kill $(secs $((t1 - t0))), promote $(secs $((t2 - t1))), rejoin $(secs $((t3 - t2)))); old primary's WAL lost past the divergence: ${REWOUND:-unknown}"
}

cmd_pg_switchover() {
  local t0 t1 t2 t3 p
  t0="$(now_ms)"
  p="$(pg_running_primary)" || die "no primary is running"
  pg_is_sync "$p" "$(pg_other "$p")" || die "$(pg_other "$p") is not a sync standby of $p: a switchover could lose writes"
  pg_stop "$p" fast
  t1="$(now_ms)"
  pg_promote
  t2="$(now_ms)"
  pg_rejoin
  t3="$(now_ms)"
  echo "pg-switchover: $p stopped, $PROMOTED promoted, $p rejoined as standby in $(took "$t0") (stop $(secs $((t1 - t0))), promote $(secs $((t2 - t1))), rejoin $(secs $((t3 - t2))))"
}

pg_names_are() { [ "$(psql_q "$(pg_port "$1")" 'SHOW synchronous_standby_names' 2>/dev/null)" = "$2" ]; }

cmd_pg_sync_mode() { # '' or '*'
  local t0 value="$1" p s n
  t0="$(now_ms)"
  p="$(pg_running_primary)" || die "no primary is running"
  s="$(pg_other "$p")"
  # Both nodes' files, so the setting survives a failover; the standby
  # ignores it until it is promoted.
  for n in a b; do
    sed -i -E "s/^synchronous_standby_names = .*/synchronous_standby_names = '$value'/" "$(pg_conf "$n")"
    [ -z "$(pg_postmaster "$n")" ] || as_pg "$PG_BIN/pg_ctl" -D "$(pg_data "$n")" reload >/dev/null
  done
  wait_until "synchronous_standby_names = '$value' on $p" 30 pg_names_are "$p" "$value"
  if [ -n "$value" ]; then
    wait_until "$s to be sync" "$TIMEOUT" pg_is_sync "$p" "$s"
    echo "pg-sync: $p waits for $s again (synchronous_standby_names = '*', sync_state sync) in $(took "$t0")"
  else
    if [ -n "$(pg_sync_state "$p" "$s")" ]; then wait_until "$s to be async" 30 pg_is_async "$p" "$s"; fi
    echo "pg-async: $p no longer waits for a standby (synchronous_standby_names = '', sync_state ${s}=$(pg_sync_state "$p" "$s")) in $(took "$t0")"
  fi
}

status_postgres() {
  local p n state rows line
  for n in a b; do
    case "$(pg_recovery "$n")" in
      f) state=primary ;;
      t) state=standby ;;
      *) state=down ;;
    esac
    echo "postgres: $n (127.0.0.1:$(pg_port "$n")): $state"
  done
  if ! p="$(pg_running_primary)"; then
    echo "postgres: no primary (last known: $(state_primary))"
    return 1
  fi
  rows="$(psql_q "$(pg_port "$p")" "SELECT application_name, state, sync_state FROM pg_stat_replication ORDER BY 1")" || rows=""
  [ -n "$rows" ] || echo "postgres: primary $p: pg_stat_replication is empty (no standby streams)"
  while IFS='|' read -r app state line; do
    [ -n "$app" ] && echo "postgres: primary $p: pg_stat_replication application_name=$app state=$state sync_state=$line"
  done <<<"$rows"
  line="$(psql_q "$(pg_port "$p")" "SELECT coalesce(last_archived_wal, 'none') || ' at ' || coalesce(last_archived_time::text, '-') || ', ' || failed_count || ' failed' FROM pg_stat_archiver")" || line="?"
  echo "pgbackrest: stanza $STANZA: last archived WAL $line"
  grep -q '|sync$' <<<"$rows"
}
