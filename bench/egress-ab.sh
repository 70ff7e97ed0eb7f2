#!/usr/bin/env bash
# Compares the egress path of two builds, interleaved (A, B, A, B, …) so that both
# meet the same machine: for each round, a fresh server and echo upstream per build,
# 2,000 sequential `/v1/run/fetch` calls beside direct calls (lockbox-bench
# egress-latency), and the server's CPU time and voluntary context switches (all
# threads, from /proc) per fetch over those calls.
#
#   bash bench/egress-ab.sh OLD_DIR NEW_DIR [ROUNDS]
#
# Each DIR holds a release `lockbox` and `lockbox-bench` (copy them out of
# target/release after building each commit).
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 OLD_DIR NEW_DIR [ROUNDS]" >&2; exit 2; }
rounds=${3:-3}
LBX=127.0.0.1:18298
UP=127.0.0.1:18280

one() { # dir
  local bin=$1 work sp ep token out c0 c1 x0 x1
  work=$(mktemp -d)
  "$bin/lockbox" server --data-dir "$work/data" --listen "$LBX" --init-token-file "$work/token" \
    --egress-allow-private >/dev/null 2>"$work/log" &
  sp=$!
  "$bin/lockbox-bench" echo --listen "$UP" >/dev/null 2>&1 &
  ep=$!
  for _ in $(seq 100); do curl -fsS "http://$LBX/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  for _ in $(seq 50); do [ -s "$work/token" ] && break; sleep 0.1; done
  token=$(cat "$work/token")
  fetch() { "$bin/lockbox-bench" egress-latency --addr "http://$LBX" --token "$token" --upstream "http://$UP" --requests "$1"; }
  cpu() { awk '{print $14+$15}' "/proc/$sp/stat"; }
  switches() { cat /proc/"$sp"/task/*/status | awk '/^voluntary_ctxt_switches/ {s+=$2} END {print s}'; }
  fetch 300 >/dev/null # warm the connections and caches
  c0=$(cpu); x0=$(switches)
  out=$(fetch 2000)
  c1=$(cpu); x1=$(switches)
  kill "$sp" "$ep"; wait "$sp" "$ep" 2>/dev/null || true
  rm -rf "$work"
  local ticks; ticks=$(getconf CLK_TCK)
  python3 -c '
import json, sys
d = json.loads(sys.argv[1])
print("| %s | %.3f | %.3f | %.3f | %d | %.1f |" % (sys.argv[2], d["direct_p50_ms"], d["added_p50_ms"], d["added_p99_ms"],
      (int(sys.argv[3]) * 1e6 / int(sys.argv[5])) / 2000, int(sys.argv[4]) / 2000))
' "$out" "$(basename "$bin")" "$((c1 - c0))" "$((x1 - x0))" "$ticks"
}

echo "| build | direct p50 ms | added p50 ms | added p99 ms | server CPU µs/fetch | context switches/fetch |"
echo "|---|---|---|---|---|---|"
for _ in $(seq "$rounds"); do one "$1"; one "$2"; done
