# shellcheck shell=bash
# Point the test harness and the fault run at scripts/cluster's servers
# (three RabbitMQ nodes, a PostgreSQL primary and its synchronous standby)
# instead of the machine's own: the addresses `scripts/cluster env` prints,
# exported under the names the harness reads. Sourced by scripts/test and
# scripts/chaos after `scripts/cluster up`.

use_cluster() {
  local key value
  while IFS='=' read -r key value; do
    case "$key" in
      CLUSTER_AMQP_URL) export TEST_AMQP_URL="$value" ;;
      CLUSTER_DATABASE_URL) export TEST_DATABASE_URL="$value" ;;
      CLUSTER_RABBITMQ_MANAGEMENT_URLS) export RABBITMQ_MANAGEMENT_URL="$value" ;;
    esac
  done < <("$(dirname "${BASH_SOURCE[0]}")/../cluster" env)
  [[ -n "${TEST_AMQP_URL:-}" && -n "${TEST_DATABASE_URL:-}" ]] || die "scripts/cluster env printed no addresses"
}
