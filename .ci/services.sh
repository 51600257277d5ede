# Sourced by .ci/run: installs Redis and PostgreSQL when missing, starts
# them on loopback, waits until both answer, and exports where they are for
# the tests (internal/testutil.Redis and Postgres). NEURON_TEST_SERVICES=required
# makes a test that finds no server fail instead of skipping. Running it
# again is safe: a server that already answers is left alone.

# ci_wait WHAT CMD...: wait up to 30s for CMD to succeed, or fail naming WHAT.
ci_wait() {
  local what=$1 i
  shift
  for i in $(seq 60); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  echo "ci: $what is not answering after 30s; see its log above or in /var/log" >&2
  return 1
}

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null || ! command -v pg_ctlcluster >/dev/null || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server postgresql >/dev/null
fi

# Redis: no persistence, loopback only.
redis_ping() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]; }
if ! redis_ping; then
  redis-server --port 6379 --bind 127.0.0.1 --daemonize yes --save '' --appendonly no
fi
ci_wait "redis-server on 127.0.0.1:6379" redis_ping
export NEURON_TEST_REDIS_ADDR=127.0.0.1:6379

# PostgreSQL: the newest installed version's main cluster (the package
# creates it; create it if not), with a password for TCP clients, which
# Debian's pg_hba.conf authenticates with scram-sha-256.
pg_version=$(ls /usr/lib/postgresql | sort -n | tail -n 1)
pg_field() { pg_lsclusters -h | awk -v v="$pg_version" -v f="$1" '$1 == v && $2 == "main" { print $f }'; }
if [ -z "$(pg_field 3)" ]; then
  pg_createcluster "$pg_version" main >/dev/null
fi
pg_port=$(pg_field 3)
if [ "$(pg_field 4)" != online ]; then
  pg_ctlcluster "$pg_version" main start
fi
ci_wait "PostgreSQL $pg_version on 127.0.0.1:$pg_port" pg_isready -q -h 127.0.0.1 -p "$pg_port"
(cd / && runuser -u postgres -- psql -q -p "$pg_port" -c "ALTER USER postgres PASSWORD 'neuron'")
export NEURON_TEST_POSTGRES_URL="postgres://postgres:neuron@127.0.0.1:$pg_port/postgres?sslmode=disable"

export NEURON_TEST_SERVICES=required
