#!/usr/bin/env bash
# Lockbox throughput benchmark. Builds in release mode, starts a bare axum baseline
# and a Lockbox server on loopback, loads both with wrk, and writes the figures to
# docs/benchmarks.md. Ratios against the baseline measured in the same run are what
# to compare across machines.
#
#   bash bench/run.sh            # 10 s per load
#   DURATION=5 bash bench/run.sh
#   bash bench/run.sh redaction  # only the redaction figures: the engine and runs'
#                                # redactors; replaces that section of the doc
#   bash bench/run.sh scale      # only the 100k-secrets figures (lockbox-bench scale
#                                # against a fresh server); replaces that section
#   bash bench/run.sh pg-nodes   # only the PostgreSQL multi-node write figures
#                                # (lockbox-bench pg-nodes, 1 then 3 nodes, each on a
#                                # fresh database); replaces that section
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-all}
# Each section also leaves its raw figures here, for the targets table of the full run.
RAW=$(mktemp -d)

# Replaces the part of docs/benchmarks.md between `<!-- NAME -->` and
# `<!-- /NAME -->` with FILE (appends it when the markers are absent).
replace_section() { # name, file
  local name=$1 file=$2 out
  out=$(mktemp)
  if grep -q "^<!-- $name -->\$" docs/benchmarks.md; then
    awk -v f="$file" -v first="<!-- $name -->" -v last="<!-- /$name -->" '
      $0 == first { while ((getline line < f) > 0) print line; skip = 1; next }
      $0 == last { skip = 0; next }
      !skip { print }' docs/benchmarks.md > "$out"
  else
    { cat docs/benchmarks.md; echo; cat "$file"; } > "$out"
  fi
  cp "$out" docs/benchmarks.md
  rm -f "$out"
}

# Runs a one-section mode: build, make the section, print it, put it in the doc.
section_mode() { # name, function, args...
  local name=$1 fn=$2; shift 2
  cargo build --release -q -p lockbox-cli -p lockbox-bench
  local dir
  dir=$(mktemp -d)
  "$fn" "$@" > "$dir/section.md"
  cat "$dir/section.md"
  if [ "${WRITE_DOC:-1}" = 1 ]; then replace_section "$name" "$dir/section.md"; fi
  rm -rf "$dir"
}

# The redaction section: the engine on one core (its own example program), and the
# cost of runs' redactors in a workspace of 10,000 secrets of 64 KiB (a Lockbox
# server in the bench process, whose counting allocator sees every byte).
redaction_section() { # data dir for the run-redactor workspace
  local engine rr
  engine=$(cargo run --release -q -p lockbox-redact --example bench 2>/dev/null)
  rr=$(${CARGO_TARGET_DIR:-target}/release/lockbox-bench run-redactor --secrets 10000 --size 64000 --used 10 --parallel 4 --dir "$1")
  rm -rf "$1"
  echo "$engine" > "$RAW/engine"
  jr() { echo "$rr" | sed -E "s/.*\"$1\": ([0-9.-]+).*/\1/"; }
  cat <<MD
<!-- redaction -->
This section is made by \`bash bench/run.sh redaction\` (or the full run).

Redaction engine: \`cargo run --release -p lockbox-redact --example bench\` (one core,
1 MB of log-like text with ~350 occurrences of the values, raw, in Basic credentials,
JSON-escaped, percent-encoded, hex and HTML-escaped; each value in all its forms; the
plain aho-corasick automaton over the same patterns measured in the same run), on
$(date -u +%Y-%m-%d):

\`\`\`text
$engine
\`\`\`

Redaction targets: ≥ 1 GB/s per core at 10,000 values; rebuilding the matcher for a
changed set (build_ms) ≤ 50 ms. Design and what was tried: crates/redact/BENCH.md.

Runs' redactors: \`lockbox-bench run-redactor --secrets 10000 --size 64000 --used 10
--parallel 4\` (a server in the bench process over a fresh SQLite workspace of 10,000
secrets of 64,000 printable bytes, 64 KiB as JSON; a run holds references to 10 of them and calls
\`/v1/run/redact\` with a line holding one value; MB = heap bytes allocated at the
peak of the call above what was live before it, by the whole process; builds = secret
versions decrypted and encoded). Targets: the first call under 50 ms and 20 MB; a
write to another secret costs the run nothing.

| call | ms | MB | version builds |
|---|---|---|---|
| first call of the run | $(jr first_ms) | $(jr first_mb) | $(jr first_builds) |
| the same call again | $(jr cached_ms) | $(jr cached_mb) | $(jr cached_builds) |
| after a write to another secret | $(jr after_other_write_ms) | $(jr after_other_write_mb) | $(jr after_other_write_builds) |
| after a new version of a used secret | $(jr after_used_write_ms) | $(jr after_used_write_mb) | $(jr after_used_write_builds) |
| $(jr parallel) parallel first calls of a fresh run (wall time) | $(jr parallel_ms) | $(jr parallel_mb) | $(jr parallel_builds) |

Version sets held afterwards: $(jr cached_set_mb) MB (the cache's bound is 64 MiB).
Writing the workspace took $(jr populate_s) s.
<!-- /redaction -->
MD
}

# The 100k-secrets section: a fresh server (SQLite) seeded with 100,000 secrets
# through the native API, then lists, reads and creates (crates/bench/src/scale.rs).
scale_section() { # work dir
  local dir=$1 port=127.0.0.1:18273 pid out rss
  mkdir -p "$dir"
  ${CARGO_TARGET_DIR:-target}/release/lockbox server --data-dir "$dir/data" --listen "$port" \
    --init-token-file "$dir/token" 2>"$dir/server.log" &
  pid=$!
  for _ in $(seq 100); do curl -fsS "http://$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  for _ in $(seq 50); do [ -s "$dir/token" ] && break; sleep 0.1; done
  out=$(${CARGO_TARGET_DIR:-target}/release/lockbox-bench scale --addr "http://$port" \
    --token "$(cat "$dir/token")" --secrets 100000 --clients 32 --seconds "${SCALE_DURATION:-${DURATION:-10}}" --pid "$pid")
  rss=$(awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$pid/status")
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
  echo "$out" > "$RAW/scale"
  j() { echo "$out" | sed -E "s/.*\"$1\": *\{[^}]*\"$2\": *([0-9.-]+).*/\1/"; }
  top() { echo "$out" | sed -E "s/.*\"$1\": *([0-9.-]+).*/\1/"; }
  row() { echo "| $2 | $(j "$1" rps) | $(j "$1" p50_ms) ms | $(j "$1" p99_ms) ms |"; }
  r() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
  cat <<MD
<!-- scale -->
## 100k secrets

Made by \`bash bench/run.sh scale\` (or the full run) on $(date -u +%Y-%m-%d): a fresh
server on SQLite, seeded by \`lockbox-bench scale --secrets 100000 --clients 32\` with
100,000 durable upserts through the native API (\`top/fNNNN/kNN\`: a folder of 1,000
sub-folders of 99 secrets; \`hundred/kNNN\`: a folder of 100 keys; the rest under
\`fill/\`), then each load for ${SCALE_DURATION:-${DURATION:-10}} s from the same process (its own HTTP
client, sharing the machine's $(nproc) cores with the server). A LIST answers every
child (the bench checks 1,000 and 100 keys before timing). A folder listed over and
over is answered from the server's listing cache (one scan per 0.4 s, dropped by any
write); the "each once" rows list every one of the 1,000 sub-folders once, so no
answer comes from it (requests/s over that pass). Reads pick secrets spread
over all 100,000. Before the loads the bench reads every secret once (a native reveal
each, then a Vault data GET each) and reads the server's VmRSS after seeding and
after that.

| load at 100,000 secrets | requests/s | p50 | p99 |
|---|---|---|---|
| seed: 100,000 durable upserts, 32 clients | $(top seed_per_s) | | |
$(row list_top_1 "Vault LIST \`top/\` (1,000 sub-folders), 1 client")
$(row list_top_n "Vault LIST \`top/\`, 32 clients")
$(row list_hundred_1 "Vault LIST \`hundred/\` (100 keys), 1 client")
$(row list_hundred_n "Vault LIST \`hundred/\`, 32 clients")
$(row list_each_folder_1 "Vault LIST of each \`top/fNNNN/\` (99 keys) once, 1 client (never cached)")
$(row list_each_folder_n "the same, 32 clients")
$(row metadata_n "native metadata GET, 32 clients")
$(row reveal_n "native reveal (audited), random secrets, 32 clients")
$(row vault_read_n "Vault data GET (audited), random secrets, 32 clients")
$(row vault_create_n "Vault data write, new keys, 32 clients")

Seeding took $(top seed_s) s; reading each secret once took $(top read_each_reveal_s) s (reveal)
and $(top read_each_vault_s) s (Vault data GET). Server RSS after seeding: $(top rss_seed_mib) MiB;
after reading each once: $(top rss_read_mib) MiB; after the loads: ${rss:-?} MiB.
Non-2xx answers: $(for k in list_top_1 list_top_n list_hundred_1 list_hundred_n list_each_folder_1 list_each_folder_n metadata_n reveal_n vault_read_n vault_create_n; do printf '%s %s; ' "$k" "$(j "$k" failed)"; done)

| target | measured |
|---|---|
| LIST of a 1,000-sub-folder folder, 1 client: p99 ≤ 20 ms | p99 $(j list_top_1 p99_ms) ms |
| LIST of a 100-key folder ≥ 0.5 × metadata GET, 32 clients | $(r "$(j list_hundred_n rps)" "$(j metadata_n rps)") × (never cached, 99 keys: $(r "$(j list_each_folder_n rps)" "$(j metadata_n rps)") ×) |
| Vault data GET ≥ 0.9 × native reveal, 32 clients | $(r "$(j vault_read_n rps)" "$(j reveal_n rps)") × |
| RSS ≤ 86 MiB after 100k secrets and reading each once (1.2 × RustyVault's 72 MiB) | $(top rss_read_mib) MiB |
<!-- /scale -->
MD
}

# The PostgreSQL multi-node write section: durable writes to distinct workspaces
# (one per client) through 1 node, then through 3 nodes over one database, the same
# total clients, each run on a fresh database (crates/bench/src/pg_nodes.rs).
pg_nodes_section() {
  local base=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
  local clients=${PG_NODES_CLIENTS:-48} secs=${PG_NODES_DURATION:-${DURATION:-10}}
  local bin=${CARGO_TARGET_DIR:-target}/release one three
  one=$($bin/lockbox-bench pg-nodes --bin "$bin/lockbox" --database "$base" --nodes 1 \
    --port 18500 --clients "$clients" --seconds "$secs")
  three=$($bin/lockbox-bench pg-nodes --bin "$bin/lockbox" --database "$base" --nodes 3 \
    --port 18510 --clients "$clients" --seconds "$secs")
  j() { echo "$1" | sed -E "s/.*\"$2\": *([0-9.-]+).*/\1/"; }
  r() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
  local w1 w3
  w1=$(j "$one" writes_per_s)
  w3=$(j "$three" writes_per_s)
  echo "$w1 $w3" > "$RAW/pg-nodes"
  cat <<MD
<!-- pg-nodes -->
## PostgreSQL: writes through several nodes

Made by \`bash bench/run.sh pg-nodes\` on $(date -u +%Y-%m-%d):
\`lockbox-bench pg-nodes --nodes N --clients $clients --seconds $secs\` starts N release
\`lockbox server\` processes over one fresh database on the local PostgreSQL, one
workspace per client, each client PUTting new versions of its 20 secrets through node
\`client % N\` as fast as answers come back (durable: answered after COMMIT, audited).
Load generator, nodes and PostgreSQL share the machine's $(nproc) cores.

| nodes | clients | durable writes/s | p50 | p99 | failed |
|---|---|---|---|---|---|
| 1 | $clients | $w1 | $(j "$one" p50_ms) ms | $(j "$one" p99_ms) ms | $(j "$one" failed) |
| 3 | $clients | $w3 | $(j "$three" p50_ms) ms | $(j "$three" p99_ms) ms | $(j "$three" failed) |

| target | measured |
|---|---|
| 3 nodes ≥ 3 × 1 node | $(r "$w3" "$w1") × |
| 3 nodes ≥ 5,000 writes/s in total | $w3 /s |
| 1 node ≥ 2 × 900/s (the one-node durable upsert before batching) | $(r "$w1" 900) × 900/s |
<!-- /pg-nodes -->
MD
}

case "$MODE" in
  pg-nodes) section_mode pg-nodes pg_nodes_section; exit 0 ;;
  scale) work=$(mktemp -d); section_mode scale scale_section "$work/scale"; rm -rf "$work"; exit 0 ;;
  redaction) work=$(mktemp -d); section_mode redaction redaction_section "$work/rr"; rm -rf "$work"; exit 0 ;;
  all) ;;
  *) echo "usage: bash bench/run.sh [all|redaction|scale|pg-nodes]" >&2; exit 2 ;;
esac

DURATION=${DURATION:-10}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
HELLO=127.0.0.1:18271
LBX=127.0.0.1:18270

if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)" >&2
  apt-get update -qq >/dev/null && apt-get install -y -qq wrk >/dev/null
fi

cargo build --release -q -p lockbox-cli -p lockbox-bench
BIN=${CARGO_TARGET_DIR:-target}/release

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

wait_http() { for _ in $(seq 100); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }

# wrk prints "Requests/sec: N" and, with --latency, percentile lines.
run_wrk() { # name, extra args...
  local name=$1; shift
  wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency "$@" > "$work/$name.txt"
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/$name.txt")
  p50=$(awk '$1=="50%" {print $2}' "$work/$name.txt")
  p99=$(awk '$1=="99%" {print $2}' "$work/$name.txt")
  local non2xx
  non2xx=$(awk '/Non-2xx/ {print $5}' "$work/$name.txt")
  echo "$name ${rps%.*} $p50 $p99 ${non2xx:-0}"
}

$BIN/lockbox-bench hello --listen "$HELLO" & pids+=($!)
wait_http "http://$HELLO/hello"

$BIN/lockbox server --data-dir "$work/data" --listen "$LBX" --init-token-file "$work/token" --egress-allow-private 2>"$work/server.log" & pids+=($!)
$BIN/lockbox-bench echo --listen 127.0.0.1:18280 2>/dev/null & pids+=($!)
wait_http "http://$LBX/healthz"
for _ in $(seq 50); do [ -s "$work/token" ] && break; sleep 0.1; done
TOKEN=$(cat "$work/token")
curl -fsS -X PUT "http://$LBX/v1/workspaces/default/secrets/bench-read" -H "Authorization: Bearer $TOKEN" \
  -d '{"value": "bench-value-0123456789abcdef0123456789abcdef"}' >/dev/null

cat > "$work/reveal.lua" <<LUA
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer $TOKEN"
LUA
cat > "$work/get.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $TOKEN"
LUA
cat > "$work/put.lua" <<LUA
local counter = 0
local tid = tostring(math.random(1, 1000000000))
wrk.method = "PUT"
wrk.headers["Authorization"] = "Bearer $TOKEN"
wrk.headers["Content-Type"] = "application/json"
request = function()
  counter = counter + 1
  local path = "/v1/workspaces/default/secrets/up-" .. tid .. "-" .. (counter % 500)
  return wrk.format(nil, path, nil, '{"value": "upsert-value-' .. counter .. '-0123456789abcdef"}')
end
LUA

# The Vault KV v2 compatible API: the same reveal and upsert through /vault.
cat > "$work/vget.lua" <<LUA
wrk.headers["X-Vault-Token"] = "$TOKEN"
LUA
cat > "$work/vput.lua" <<LUA
local counter = 0
local tid = tostring(math.random(1, 1000000000))
wrk.method = "POST"
wrk.headers["X-Vault-Token"] = "$TOKEN"
wrk.headers["Content-Type"] = "application/json"
request = function()
  counter = counter + 1
  local path = "/vault/v1/secret/data/vup-" .. tid .. "-" .. (counter % 500)
  return wrk.format(nil, path, nil, '{"data": {"value": "upsert-value-' .. counter .. '-0123456789abcdef"}}')
end
LUA

read -r _ hello_rps hello_p50 hello_p99 _ <<<"$(run_wrk hello "http://$HELLO/hello")"
read -r _ meta_rps meta_p50 meta_p99 meta_err <<<"$(run_wrk metadata -s "$work/get.lua" "http://$LBX/v1/workspaces/default/secrets/bench-read")"
read -r _ rev_rps rev_p50 rev_p99 rev_err <<<"$(run_wrk reveal -s "$work/reveal.lua" "http://$LBX/v1/workspaces/default/secrets/bench-read/reveal")"
read -r _ up_rps up_p50 up_p99 up_err <<<"$(run_wrk upsert -s "$work/put.lua" "http://$LBX/v1/workspaces/default/secrets/x")"
read -r _ vget_rps vget_p50 vget_p99 vget_err <<<"$(run_wrk vault-get -s "$work/vget.lua" "http://$LBX/vault/v1/secret/data/bench-read")"
read -r _ vput_rps vput_p50 vput_p99 vput_err <<<"$(run_wrk vault-put -s "$work/vput.lua" "http://$LBX/vault/v1/secret/data/x")"
raw=$($BIN/lockbox-bench sqlite-inserts --dir "$work/raw" --seconds "$DURATION")
egress=$($BIN/lockbox-bench egress-latency --addr "http://$LBX" --token "$TOKEN" --upstream http://127.0.0.1:18280 --requests 2000)
patch=$($BIN/lockbox-bench hot-patch --addr "http://$LBX" --token "$TOKEN" --clients 16 --seconds "$DURATION")

# PostgreSQL: the same loads against a node over a fresh database, when a server is
# reachable (BENCH_PG_URL, default the local one).
PG_BASE=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
pg_rows=""
if command -v psql >/dev/null && psql "$PG_BASE" -Atqc 'select 1' >/dev/null 2>&1; then
  pg_db="lbx_bench_$$"
  psql "$PG_BASE" -qc "create database $pg_db" >/dev/null
  PG_URL="${PG_BASE%/*}/$pg_db"
  PGLBX=127.0.0.1:18272
  $BIN/lockbox server --data-dir "$work/pgdata" --database "$PG_URL" --listen "$PGLBX" --init-token-file "$work/pgtoken" 2>"$work/pgserver.log" & pids+=($!)
  wait_http "http://$PGLBX/healthz"
  for _ in $(seq 50); do [ -s "$work/pgtoken" ] && break; sleep 0.1; done
  PGTOKEN=$(cat "$work/pgtoken")
  curl -fsS -X PUT "http://$PGLBX/v1/workspaces/default/secrets/bench-read" -H "Authorization: Bearer $PGTOKEN" \
    -d '{"value": "bench-value-0123456789abcdef0123456789abcdef"}' >/dev/null
  sed "s/$TOKEN/$PGTOKEN/" "$work/get.lua" > "$work/pgget.lua"
  sed "s/$TOKEN/$PGTOKEN/" "$work/reveal.lua" > "$work/pgreveal.lua"
  sed "s/$TOKEN/$PGTOKEN/" "$work/put.lua" > "$work/pgput.lua"
  read -r _ pmeta_rps pmeta_p50 pmeta_p99 _ <<<"$(run_wrk pgmeta -s "$work/pgget.lua" "http://$PGLBX/v1/workspaces/default/secrets/bench-read")"
  read -r _ prev_rps prev_p50 prev_p99 _ <<<"$(run_wrk pgreveal -s "$work/pgreveal.lua" "http://$PGLBX/v1/workspaces/default/secrets/bench-read/reveal")"
  read -r _ pup_rps pup_p50 pup_p99 pup_err <<<"$(run_wrk pgupsert -s "$work/pgput.lua" "http://$PGLBX/v1/workspaces/default/secrets/x")"
  pg_rows="| PostgreSQL node: metadata GET | $pmeta_rps | $pmeta_p50 | $pmeta_p99 | | |
| PostgreSQL node: reveal (audited) | $prev_rps | $prev_p50 | $prev_p99 | | |
| PostgreSQL node: durable upsert (committed) | $pup_rps | $pup_p50 | $pup_p99 | | non-2xx: ${pup_err:-0} |"
  kill "${pids[-1]}" 2>/dev/null || true
  sleep 0.5
  psql "$PG_BASE" -qc "drop database if exists $pg_db" >/dev/null 2>&1 || true
fi

# RustyVault beside Lockbox, when a binary is given (bench/rustyvault.sh).
rv_md=""
if [ -n "${RUSTYVAULT_BIN:-}" ]; then
  source bench/rustyvault.sh
  rustyvault_section > "$work/rv.md"
  rv_md=$(cat "$work/rv.md")
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
patch_p50=$(echo "$patch" | sed -E 's/.*"p50_ms": ([0-9.]+).*/\1/')
patch_p99=$(echo "$patch" | sed -E 's/.*"p99_ms": ([0-9.]+).*/\1/')
patch_ok=$(echo "$patch" | sed -E 's/.*"successful_patches_per_s": ([0-9.]+).*/\1/')
jget() { echo "$1" | sed -E "s/.*\"$2\": ([0-9.-]+).*/\1/"; }

# The later sections run first (in this shell, so their raw figures are in $RAW for
# the targets table at the top).
redaction_md=$(redaction_section "$work/rr")
scale_md=$(scale_section "$work/scale")
pg_nodes_md=""
if [ -n "$pg_rows" ]; then pg_nodes_md=$(pg_nodes_section); fi

# The targets of issue 20 (and the earlier ones they restate), each beside what this
# run measured. "met" compares with awk; "n/a" when this run could not measure it.
sj() { sed -E "s/.*\"$1\": *\{[^}]*\"$2\": *([0-9.-]+).*/\1/" "$RAW/scale"; }
st() { sed -E "s/.*\"$1\": *([0-9.-]+).*/\1/" "$RAW/scale"; }
met() { awk -v a="$1" -v op="$2" -v b="$3" 'BEGIN { if (a == "" || a == "n/a") { print "n/a"; exit }
  ok = (op == ">=") ? (a + 0 >= b + 0) : (a + 0 <= b + 0); print (ok ? "met" : "**missed**") }'; }
eng=$(awk '$1 == 10000 { print $3, $4 }' "$RAW/engine")
eng_build=${eng% *}
eng_rate=${eng#* }
t_list_p99=$(sj list_top_1 p99_ms)
t_list_ratio=$(ratio "$(sj list_hundred_n rps)" "$(sj metadata_n rps)")
t_list_cold_ratio=$(ratio "$(sj list_each_folder_n rps)" "$(sj metadata_n rps)")
t_vault_ratio=$(ratio "$(sj vault_read_n rps)" "$(sj reveal_n rps)")
t_rss=$(st rss_read_mib)
t_reveal_hello=$(ratio "$rev_rps" "$hello_rps")
t_reveal_rv=${RV_REVEAL_MEDIAN:-n/a}
t_pg1=n/a t_pg3=n/a t_pg_ratio=n/a t_pg1_ratio=n/a
if [ -s "$RAW/pg-nodes" ]; then
  read -r t_pg1 t_pg3 < "$RAW/pg-nodes"
  t_pg_ratio=$(ratio "$t_pg3" "$t_pg1")
  t_pg1_ratio=$(ratio "$t_pg1" 900)
fi
t_added_p50=$(jget "$egress" added_p50_ms)
t_added_p99=$(jget "$egress" added_p99_ms)

report=$(cat <<MD
<!-- run -->
# Benchmarks

Made by \`${RUSTYVAULT_BIN:+RUSTYVAULT_BIN=… }bash bench/run.sh\` (DURATION=${DURATION}s per load, wrk -t${THREADS} -c${CONNS}, release build,
loopback, the load generator sharing the machine's $(nproc) cores) on $(date -u +%Y-%m-%d).
Absolute numbers depend on the machine; the ratios against the baselines measured in
the same run are what to compare. Every figure on this page down to the console list
comes from that one run.

## Targets (issue 20), from this run

| target | measured | |
|---|---|---|
| native reveal ≥ 0.5 × axum hello, 32 clients | $t_reveal_hello × | $(met "$t_reveal_hello" ">=" 0.5) |
| native reveal ≥ 2 × RustyVault's (un-audited) read, same run | ${t_reveal_rv} × (median of rounds) | $(met "$t_reveal_rv" ">=" 2) |
| Vault data GET ≥ 0.9 × native reveal, at 100k secrets | $t_vault_ratio × | $(met "$t_vault_ratio" ">=" 0.9) |
| LIST of a 1,000-sub-folder folder at 100k secrets, 1 client: p99 ≤ 20 ms | $t_list_p99 ms | $(met "$t_list_p99" "<=" 20) |
| LIST of a 100-key folder ≥ 0.5 × metadata GET, 32 clients, at 100k secrets | $t_list_ratio × (the same folder over and over: the listing cache; each of 1,000 99-key folders once: $t_list_cold_ratio ×) | $(met "$t_list_ratio" ">=" 0.5) |
| RSS after 100k secrets and reading each once ≤ 86 MiB (1.2 × RustyVault's 72 MiB) | $t_rss MiB | $(met "$t_rss" "<=" 86) |
| PostgreSQL: 3 nodes ≥ 3 × one node, distinct workspaces | $t_pg_ratio × | $(met "$t_pg_ratio" ">=" 3) |
| PostgreSQL: 3 nodes ≥ 5,000 durable writes/s | $t_pg3 /s | $(met "$t_pg3" ">=" 5000) |
| PostgreSQL: one node ≥ 2 × 900/s (before this issue) | $t_pg1_ratio × 900/s | $(met "$t_pg1_ratio" ">=" 2) |
| redaction ≥ 1 GB/s per core at 10,000 values | $eng_rate MB/s | $(met "$eng_rate" ">=" 1000) |
| redaction matcher rebuild ≤ 50 ms at 10,000 values | $eng_build ms | $(met "$eng_build" "<=" 50) |
| egress added median ≤ 0.2 ms | $t_added_p50 ms | $(met "$t_added_p50" "<=" 0.2) |
| egress added p99 ≤ 1 ms | $t_added_p99 ms | $(met "$t_added_p99" "<=" 1) |

## Throughput

| load | requests/s | p50 | p99 | ratio | target |
|---|---|---|---|---|---|
| bare axum hello world (baseline) | $hello_rps | $hello_p50 | $hello_p99 | 1.00 | |
| metadata GET (auth + SQLite read) | $meta_rps | $meta_p50 | $meta_p99 | $(ratio "$meta_rps" "$hello_rps") × hello | ≥ 0.6 |
| reveal (decrypt + durable audit row) | $rev_rps | $rev_p50 | $rev_p99 | $(ratio "$rev_rps" "$hello_rps") × hello | ≥ 0.5 |
| durable upsert (PUT, group commit) | $up_rps | $up_p50 | $up_p99 | $(ratio "$up_rps" "$raw") × raw inserts | ≥ 2 |
| raw SQLite single-row inserts, synchronous=FULL (baseline) | $raw | | | 1.00 | |
| Vault API: data GET (\`/vault/v1/secret/data/…\`, audited reveal) | $vget_rps | $vget_p50 | $vget_p99 | $(ratio "$vget_rps" "$rev_rps") × native reveal | ≥ 0.9 |
| Vault API: data write (POST, group commit) | $vput_rps | $vput_p50 | $vput_p99 | $(ratio "$vput_rps" "$up_rps") × native upsert | |
| If-Match patches of one hot secret, 16 clients | $patch_ok successful/s | ${patch_p50}ms | ${patch_p99}ms | | p99 ≤ 20 ms |
$pg_rows

Vault API rows: the same secret read, and the same kind of upsert, through the Vault
KV v2 compatible API (\`/vault/v1/secret/data/…\`, \`X-Vault-Token\`) in the same run. A
Vault data read is one service call: the audited reveal, which hands back the version's
facts with the value (Vault's answer carries \`created_time\`, \`custom_metadata\` and
\`deletion_time\`).

Egress (\`/v1/run/fetch\` against calling the same local echo upstream directly, 2,000
sequential requests each, one connection each way; targets: added median ≤ 0.2 ms,
p99 ≤ 1 ms):

| path | p50 | p99 |
|---|---|---|
| direct call to the upstream | $(jget "$egress" direct_p50_ms) ms | $(jget "$egress" direct_p99_ms) ms |
| through \`/v1/run/fetch\` | $(jget "$egress" fetch_p50_ms) ms | $(jget "$egress" fetch_p99_ms) ms |
| added by Lockbox | $(jget "$egress" added_p50_ms) ms | $(jget "$egress" added_p99_ms) ms |

Non-2xx answers during the loads: metadata ${meta_err}, reveal ${rev_err}, upsert ${up_err},
Vault GET ${vget_err}, Vault write ${vput_err}
(wrk counts them; all should be 0).

$rv_md

$redaction_md

$scale_md

$pg_nodes_md
<!-- /run -->
MD
)
echo "$report"
if [ "${WRITE_DOC:-1}" = 1 ]; then
  printf '%s\n' "$report" > "$work/run.md"
  replace_section run "$work/run.md"
fi
