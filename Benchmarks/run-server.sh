#!/usr/bin/env bash
# W4: many processes, one store. Two client processes each append BATCHES batches of 16 keys × 100 bytes
# to one server, then wait for every answer: swift-partd's `partd serve` with RemoteStore clients over a
# Unix socket (and over TCP loopback), and Python partd's ZeroMQ Server/Client (TCP loopback, the only
# transport its Server can bind), in one run. Each line is the best (smallest wall time) of R runs.
#
#   Benchmarks/run-server.sh [--repeat R] [--batches N]
set -euo pipefail
cd "$(dirname "$0")/.."

REPEAT=3
BATCHES=20000
while [ $# -gt 0 ]; do
  case "$1" in
    --repeat) REPEAT="$2"; shift 2 ;;
    --batches) BATCHES="$2"; shift 2 ;;
    *) echo "usage: $0 [--repeat R] [--batches N]" >&2; exit 2 ;;
  esac
done

scripts/setup.sh --python >&2
python3 -c "import zmq" 2>/dev/null \
  || python3 -m pip install --quiet --disable-pip-version-check pyzmq >&2 \
  || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages pyzmq >&2
swift build -c release --product partd >&2
swift build -c release --product partd-bench-server >&2

SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/partd-server.XXXXXX")"
SERVER_PID=""
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; rm -rf "$SCRATCH"; }
trap cleanup EXIT
export SERVER_TMP="$SCRATCH"
RESULTS="$SCRATCH/results.jsonl"
: > "$RESULTS"

# One swift-partd run: start the server, two clients at once, wall time until both are done.
swift_run() {
  local transport="$1" listen address
  rm -rf "$SCRATCH/data" "$SCRATCH/out"
  if [ "$transport" = unix ]; then listen=(--socket "$SCRATCH/partd.sock"); else listen=(--port 0); fi
  .build/release/partd serve --path "$SCRATCH/data" --memory 2GB "${listen[@]}" --log-level error > "$SCRATCH/out" &
  SERVER_PID=$!
  for _ in $(seq 100); do grep -q listening "$SCRATCH/out" 2>/dev/null && break; sleep 0.05; done
  address="$(sed -n 's/^listening on //p' "$SCRATCH/out" | head -1)"
  python3 - "$address" "$BATCHES" "$transport" >> "$RESULTS" <<'PY'
import json, subprocess, sys, time
address, batches, transport = sys.argv[1], int(sys.argv[2]), sys.argv[3]
t0 = time.perf_counter()
procs = [subprocess.Popen([".build/release/partd-bench-server", address, str(w), str(batches)], stdout=subprocess.PIPE)
         for w in range(2)]
outs = [json.loads(p.communicate()[0]) for p in procs]
wall = time.perf_counter() - t0
ok = all(p.returncode == 0 for p in procs) and all(o["key0_bytes"] == batches * 100 for o in outs)
total = 2 * batches
print(json.dumps({"impl": "swift-partd", "transport": transport, "clients": 2, "batches_per_client": batches,
                  "seconds": wall, "batches_per_s": total / wall, "mb_per_s": total * 1600 / wall / 1e6, "ok": ok}))
PY
  kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true; SERVER_PID=""
}

for _ in $(seq "$REPEAT"); do
  swift_run unix
  swift_run tcp
  python3 Benchmarks/python/w4_server.py --batches "$BATCHES" >> "$RESULTS"
done

python3 - "$RESULTS" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{")]
def best(impl, transport):
    c = [r for r in rows if r["impl"] == impl and r["transport"] == transport]
    return min(c, key=lambda r: r["seconds"]) if c else None
py = best("python-partd", "tcp-loopback")
summaries = []
print(f"{'impl':<13} {'transport':<13} {'wall s':>7} {'batches/s':>10} {'MB/s':>7} {'vs Python':>9}")
for impl, transport in (("swift-partd", "unix"), ("swift-partd", "tcp"), ("python-partd", "tcp-loopback")):
    r = best(impl, transport)
    if not r: continue
    ratio = f"{r['batches_per_s'] / py['batches_per_s']:.1f}x" if py and impl == "swift-partd" else ""
    if py and impl == "swift-partd":
        summaries.append({"workload": "W4 server", "line": f"2 clients, {transport}", "ratio": r['batches_per_s'] / py['batches_per_s']})
    print(f"{impl:<13} {transport:<13} {r['seconds']:>7.3f} {r['batches_per_s']:>10.0f} {r['mb_per_s']:>7.1f} {ratio:>9}"
          + ("" if r.get("ok") else "  CHECK FAILED"))
print("2 client processes x", rows[0]["batches_per_client"], "batches of 16 keys x 100 bytes; wall time from starting the clients "
      "until both have every answer (swift-partd: pipelined appends, then flush; Python: one request in flight, then a get).")
for s in summaries: print("SUMMARY " + json.dumps(s))
PY
