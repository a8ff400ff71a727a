# shellcheck shell=bash
# scripts/cluster's pgBackRest part: the stanza that whichever node is
# primary archives WAL into, its first full backup and check (the base of
# point-in-time recovery with scripts/backup --pitr and scripts/restore --to),
# and the status lines of servers scripts/restore left under the cluster
# directory. Sourced by scripts/cluster, whose settings (BR_DIR, BR_CONF,
# STANZA, PG_RUN, RESTORE_DIR) it uses; pg_data and pg_port are postgres.sh's.

pgbr() { as_pg pgbackrest --config="$BR_CONF" --stanza="$STANZA" "$@"; }

br_configure() {
  install -d -m 750 -o postgres -g postgres "$BR_DIR/repo" "$BR_DIR/log" "$BR_DIR/lock" "$BR_DIR/spool"
  # pg1 and pg2 are both local: backup and check find the primary themselves.
  cat >"$BR_CONF" <<EOF
# pgBackRest for scripts/cluster: pass --config=$BR_CONF (never /etc/pgbackrest.conf)
[global]
repo1-path=$BR_DIR/repo
repo1-retention-full=2
log-path=$BR_DIR/log
lock-path=$BR_DIR/lock
spool-path=$BR_DIR/spool
log-level-console=warn
log-level-file=info
start-fast=y
compress-type=lz4
process-max=2
archive-timeout=60

[$STANZA]
pg1-path=$(pg_data a)
pg1-port=$(pg_port a)
pg1-socket-path=$PG_RUN
pg2-path=$(pg_data b)
pg2-port=$(pg_port b)
pg2-socket-path=$PG_RUN
EOF
  chown postgres:postgres "$BR_CONF"
  chmod 640 "$BR_CONF"
  # Before the first WAL segment fills: archive_command needs the stanza.
  pgbr --log-level-console=error --log-level-stderr=error stanza-create >/dev/null || die "pgbackrest stanza-create failed (logs: $BR_DIR/log)"
}

br_backup_count() { pgbr info --output=json | jq '.[0].backup | length'; }

br_up() {
  local t0
  t0="$(now_ms)"
  if [ "$(br_backup_count)" = 0 ]; then
    say "pgBackRest: first full backup"
    pgbr --type=full backup || die "the first full backup failed (logs: $BR_DIR/log)"
  fi
  pgbr check || die "pgbackrest check failed (logs: $BR_DIR/log)"
  say "pgBackRest: stanza $STANZA has $(br_backup_count) backup(s), check passed ($(took "$t0"))"
}

status_restored() {
  local pidfile port
  for pidfile in "$RESTORE_DIR"/*/data/postmaster.pid; do
    if [ ! -r "$pidfile" ] || ! pid_alive "$(head -n 1 "$pidfile")"; then continue; fi
    port="$(sed -n 4p "$pidfile")"
    echo "restored: PostgreSQL on 127.0.0.1:$port, data $(dirname "$pidfile")"
  done
}
