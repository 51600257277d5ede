#!/usr/bin/env bash
# regflood.sh: the attack review's registration flood against a real
# development federation, and what it cost. It starts `neuron federation
# serve` on a fresh data directory, sends COUNT registrations of distinct
# neuron ids (each a body of about 64 KB: 250 endpoints with long
# descriptions) from one address, then times one admin listing, and prints
# the data directory's growth, the answers' status codes and the listing's
# time. Compare binaries of two commits in the same run:
#
#   go build -o /tmp/neuron-new ./cmd/neuron
#   bench/regflood.sh /tmp/neuron-new          # or: bench/regflood.sh BIN PORT COUNT
#
# Needs curl and python3. Results: docs/benchmarks.md, "Registration floods".
set -euo pipefail
bin=${1:?usage: regflood.sh NEURON_BINARY [PORT] [COUNT]}
port=${2:-5099}
count=${3:-300}
dir=$(mktemp -d "${TMPDIR:-/tmp}/regflood-XXXXXX")
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT

"$bin" federation serve --listen "127.0.0.1:$port" --data "$dir/data" >"$dir/out" 2>"$dir/err" &
pid=$!
for _ in $(seq 600); do
	curl -s -o /dev/null "http://127.0.0.1:$port/metrics" && break
	sleep 0.1
done
curl -s -o /dev/null "http://127.0.0.1:$port/metrics" || { echo "the federation did not start:" >&2; cat "$dir/err" >&2; exit 1; }

python3 - "$dir/body.json" <<'PY'
import json, sys
eps = [{"path": f"/p{i}", "method": "POST", "description": "d" * 200} for i in range(250)]
json.dump({"neuronId": "NEURON_ID", "name": "n", "type": "wasm-processor", "language": "wasm",
           "version": "1", "healthcheckEndpoint": "/health", "apiEndpoints": eps}, open(sys.argv[1], "w"))
PY
before=$(du -sk "$dir/data" | cut -f1)
codes=$(for i in $(seq "$count"); do
	sed "s/NEURON_ID/flood-$i/" "$dir/body.json" |
		curl -s -o /dev/null -w '%{http_code}\n' -H 'Content-Type: application/json' --data-binary @- \
			"http://127.0.0.1:$port/api/neuron/register"
done | sort | uniq -c | awk '{printf "%s x %s, ", $1, $2}')
token=$(cat "$dir/data/admin.token")
listing=$(curl -s -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/admin/neurons")
after=$(du -sk "$dir/data" | cut -f1)
printf '%s: %d registrations of %d bytes: %sdata %d KB -> %d KB, admin listing %s s\n' \
	"$bin" "$count" "$(wc -c <"$dir/body.json")" "$codes" "$before" "$after" "$listing"
