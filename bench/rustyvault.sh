# Sourced by bench/run.sh: Lockbox beside RustyVault (a Rust reimplementation of
# Vault), the same HTTP requests against both on loopback, interleaved A/B/A/B.
#
# RUSTYVAULT_BIN names an `rvault` binary you built yourself, e.g.
#   cargo install rusty_vault --version 0.2.1 --locked --root /tmp/rv
#   RUSTYVAULT_BIN=/tmp/rv/bin/rvault bash bench/run.sh
# This file neither fetches nor builds it. RustyVault 0.2 mounts a KV version 1
# engine at `secret/`, so its `secret/data/k` is a plain key named `data/k`: the same
# request line as a Vault KV v2 read, answered without versions, audit or fsync.
#
# Uses run.sh's BIN, LBX, TOKEN, work, DURATION, THREADS, CONNS and run_wrk.

RV=127.0.0.1:18290

# Starts RustyVault with file storage, initializes and unseals it, and sets RVTOKEN.
rustyvault_start() {
  mkdir -p "$work/rv"
  cat > "$work/rv/config.hcl" <<HCL
storage "file" {
  path = "$work/rv/data"
}
listener "tcp" {
  address = "$RV"
  tls_disable = true
}
api_addr = "http://$RV"
log_level = "error"
pid_file = "$work/rv/rv.pid"
HCL
  "$RUSTYVAULT_BIN" server --config "$work/rv/config.hcl" >"$work/rv/log" 2>&1 &
  pids+=($!)
  RV_PID=$!
  for _ in $(seq 100); do curl -s "http://$RV/v1/sys/seal-status" >/dev/null 2>&1 && break; sleep 0.1; done
  local init key
  init=$(curl -fsS -X PUT "http://$RV/v1/sys/init" -d '{"secret_shares": 1, "secret_threshold": 1}')
  key=$(echo "$init" | sed -E 's/.*"keys": *\[ *"([^"]+)".*/\1/')
  RVTOKEN=$(echo "$init" | sed -E 's/.*"root_token": *"([^"]+)".*/\1/')
  curl -fsS -X PUT "http://$RV/v1/sys/unseal" -d "{\"key\": \"$key\"}" >/dev/null
}

rustyvault_section() {
  rustyvault_start
  curl -fsS -X PUT "http://$RV/v1/secret/data/bench-read" -H "X-Vault-Token: $RVTOKEN" \
    -d '{"value": "bench-value-0123456789abcdef0123456789abcdef"}' >/dev/null
  cat > "$work/rvget.lua" <<LUA
wrk.headers["X-Vault-Token"] = "$RVTOKEN"
LUA
  cat > "$work/rvput.lua" <<LUA
local counter = 0
local tid = tostring(math.random(1, 1000000000))
wrk.method = "PUT"
wrk.headers["X-Vault-Token"] = "$RVTOKEN"
wrk.headers["Content-Type"] = "application/json"
request = function()
  counter = counter + 1
  local path = "/v1/secret/data/rvc-" .. tid .. "-" .. counter
  return wrk.format(nil, path, nil, '{"value": "create-value-' .. counter .. '-0123456789abcdef"}')
end
LUA
  cat > "$work/lbxcreate.lua" <<LUA
local counter = 0
local tid = tostring(math.random(1, 1000000000))
wrk.method = "POST"
wrk.headers["X-Vault-Token"] = "$TOKEN"
wrk.headers["Content-Type"] = "application/json"
request = function()
  counter = counter + 1
  local path = "/vault/v1/secret/data/lbc-" .. tid .. "-" .. counter
  return wrk.format(nil, path, nil, '{"data": {"value": "create-value-' .. counter .. '-0123456789abcdef"}}')
end
LUA
  local rounds=${RV_ROUNDS:-3} i
  local rev=() vget=() rvget=() lcreate=() rvcreate=()
  for i in $(seq "$rounds"); do
    rev+=("$(run_wrk "rv-rev-$i" -s "$work/reveal.lua" "http://$LBX/v1/workspaces/default/secrets/bench-read/reveal" | cut -d' ' -f2)")
    rvget+=("$(run_wrk "rv-get-$i" -s "$work/rvget.lua" "http://$RV/v1/secret/data/bench-read" | cut -d' ' -f2)")
    vget+=("$(run_wrk "rv-vget-$i" -s "$work/vget.lua" "http://$LBX/vault/v1/secret/data/bench-read" | cut -d' ' -f2)")
    lcreate+=("$(run_wrk "rv-lcreate-$i" -s "$work/lbxcreate.lua" "http://$LBX/vault/v1/secret/data/x" | cut -d' ' -f2)")
    rvcreate+=("$(run_wrk "rv-create-$i" -s "$work/rvput.lua" "http://$RV/v1/secret/data/x" | cut -d' ' -f2)")
  done
  RV_RSS=$(awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$RV_PID/status" 2>/dev/null || echo "?")
  kill "$RV_PID" 2>/dev/null || true
  # min/median/max of the per-round ratios a[i] / b[i].
  ratios() {
    local -n a=$1 b=$2
    for i in "${!a[@]}"; do awk -v x="${a[$i]}" -v y="${b[$i]}" 'BEGIN { printf "%.2f\n", x / y }'; done |
      sort -n | awk '{ v[NR] = $1 } END { printf "%s/%s/%s", v[1], v[int((NR + 1) / 2)], v[NR] }'
  }
  med() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
  RV_REVEAL_RATIO=$(ratios rev rvget)
  RV_REVEAL_MEDIAN=$(echo "$RV_REVEAL_RATIO" | cut -d/ -f2)
  cat <<MD
<!-- rustyvault -->
## Beside RustyVault

Made in the same run as the table above (\`RUSTYVAULT_BIN=… bash bench/run.sh\`):
RustyVault 0.2.1 (\`cargo install rusty_vault --version 0.2.1\`, release, file storage,
TLS off) on $RV beside the Lockbox server above, both on loopback, wrk -t${THREADS}
-c${CONNS}, ${DURATION} s per load, ${rounds} rounds interleaved (Lockbox, RustyVault, …).
RustyVault writes no audit row and does not fsync; its \`secret/\` is KV version 1, so
\`secret/data/bench-read\` is a plain key there. Ratios are Lockbox ÷ RustyVault per
round, min/median/max.

| load | Lockbox req/s (median) | RustyVault req/s (median) | Lockbox ÷ RustyVault |
|---|---|---|---|
| native reveal (audited, durable) vs RustyVault read | $(med "${rev[@]}") | $(med "${rvget[@]}") | $RV_REVEAL_RATIO |
| Vault data GET (audited, durable) vs RustyVault read | $(med "${vget[@]}") | $(med "${rvget[@]}") | $(ratios vget rvget) |
| Vault data write, new keys (durable) vs RustyVault write | $(med "${lcreate[@]}") | $(med "${rvcreate[@]}") | $(ratios lcreate rvcreate) |

RustyVault's RSS after these loads: ${RV_RSS} MiB.
<!-- /rustyvault -->
MD
}
