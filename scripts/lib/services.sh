# shellcheck shell=bash
# Make PostgreSQL, RabbitMQ and Redis reachable on their standard local
# ports: use them when they already run, start them when installed but
# stopped, install them (Debian packages, or docker compose with
# deploy/docker-compose.services.yml) when missing. Sourced by scripts/run
# and scripts/test.

SERVICES_COMPOSE="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/deploy/docker-compose.services.yml"

# Each step is stamped with the seconds since the script started, so a slow
# run's log shows which step took the time.
say() { printf '\033[1m==>\033[0m [%4ss] %s\n' "$SECONDS" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

port_open() { timeout 1 bash -c "</dev/tcp/127.0.0.1/$1" 2>/dev/null; }

wait_port() { # name port seconds
  local i
  for ((i = 0; i < $3 * 4; i++)); do port_open "$2" && return 0; sleep 0.25; done
  die "$1 did not come up on port $2 within $3 s"
}

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }

have_compose() { command -v docker >/dev/null && docker compose version >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

APT_UPDATED=0
apt_install() {
  command -v apt-get >/dev/null || return 1
  if [ "$APT_UPDATED" -eq 0 ]; then as_root apt-get -o DPkg::Lock::Timeout=300 update -qq || return 1; APT_UPDATED=1; fi
  say "installing $* (Debian packages)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq "$@" >/dev/null
}

compose_up() { # service
  have_compose || return 1
  say "starting $1 with docker compose ($SERVICES_COMPOSE)"
  docker compose -f "$SERVICES_COMPOSE" up -d "$1"
}

start_postgres() {
  [ -d /etc/postgresql ] || return 1
  local version; version=$(ls /etc/postgresql | sort -V | tail -n 1)
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || as_root pg_ctlcluster "$version" main start
}

# A fresh Debian cluster only trusts local peers; give the postgres role the
# password the scripts use, so TCP logins work (trust setups ignore it).
set_postgres_password() {
  command -v psql >/dev/null || return 0
  as_root su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null 2>&1 || true
}

ensure_postgres() {
  port_open 5432 && return 0
  if ! command -v pg_ctlcluster >/dev/null; then
    apt_install postgresql || compose_up postgres || die "cannot install PostgreSQL (no apt-get and no docker compose)"
  fi
  if ! port_open 5432; then
    say "starting PostgreSQL"
    start_postgres || compose_up postgres || die "cannot start PostgreSQL"
  fi
  wait_port PostgreSQL 5432 60
  set_postgres_password
}

ensure_rabbitmq() {
  if ! port_open 5672; then
    if ! command -v rabbitmq-server >/dev/null; then
      apt_install rabbitmq-server || compose_up rabbitmq || die "cannot install RabbitMQ (no apt-get and no docker compose)"
    fi
    if ! port_open 5672 && command -v rabbitmq-server >/dev/null; then
      say "starting RabbitMQ"
      as_root rabbitmq-server -detached >/dev/null 2>&1 || true
    fi
    wait_port RabbitMQ 5672 120
  fi
  # The management API gives queue depths with unacknowledged counts and
  # lets the fault tests close their own connections by name.
  if ! port_open 15672 && command -v rabbitmq-plugins >/dev/null; then
    say "enabling the RabbitMQ management and Prometheus plugins"
    as_root rabbitmq-plugins enable --quiet rabbitmq_management rabbitmq_prometheus >/dev/null
  fi
  wait_port "RabbitMQ management" 15672 60
}

ensure_redis() {
  port_open 6379 && return 0
  if ! command -v redis-server >/dev/null; then
    apt_install redis-server || compose_up redis || die "cannot install Redis (no apt-get and no docker compose)"
  fi
  if ! port_open 6379 && command -v redis-server >/dev/null; then
    say "starting Redis"
    as_root mkdir -p /var/lib/redis /var/log/redis
    as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log >/dev/null
  fi
  wait_port Redis 6379 30
}

ensure_services() {
  ensure_postgres
  ensure_rabbitmq
  ensure_redis
  say "PostgreSQL, RabbitMQ and Redis are up"
}

# The review page's browser test drives Debian's Chromium over WebDriver.
ensure_browser() {
  command -v chromedriver >/dev/null && command -v chromium >/dev/null && return 0
  apt_install chromium chromium-driver || die "cannot install chromium and chromium-driver (Debian packages)"
}

# promtool (Debian's prometheus package) checks and unit-tests the alert rules.
ensure_promtool() {
  command -v promtool >/dev/null && return 0
  apt_install --no-install-recommends prometheus || die "cannot install prometheus (for promtool)"
}

# Node.js parses the k6 script (as an ES module) in the test command.
ensure_node() {
  command -v node >/dev/null && return 0
  apt_install nodejs || die "cannot install nodejs (Debian package)"
}

ensure_rust() {
  command -v cargo >/dev/null || die "cargo is missing: install the Rust toolchain (https://rustup.rs), then run this again"
}
