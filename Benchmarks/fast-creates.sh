# Sourced by the benchmark scripts whose stores create thousands of files (W1, the spill dictionary).
#
# ext4 without a journal (as on this VM) skips the inodes of files deleted in the last
# 30 s while their inode-table blocks are dirty, so creating files right after many
# deletions (by anything on the machine) can be ten times slower than normal. Before each
# run we wait, up to 180 s, until creating 1,000 probe files in the scratch directory
# ($SCRATCH) takes under 50 ms (20-30 ms normally, 150-500 ms after deletions). The probe
# files are kept: deleting them would slow the next creation.
# FAST_CREATES_PROBE=0 (or W1_PROBE=0) skips the wait.
PROBE=0
wait_for_fast_creates() {
  [ "${FAST_CREATES_PROBE:-${W1_PROBE:-1}}" = 1 ] || return 0
  local waited=0
  while :; do
    PROBE=$((PROBE + 1))
    local ms
    ms=$(python3 - "$(mktemp -d "$SCRATCH/probe.XXXXXX")" <<'PY'
import os, sys, time
d = sys.argv[1]
t = time.perf_counter()
for i in range(1000):
    os.close(os.open(os.path.join(d, str(i)), os.O_WRONLY | os.O_CREAT, 0o644))
print(int((time.perf_counter() - t) * 1000))
PY
)
    if [ "$ms" -lt 50 ] || [ "$waited" -ge 180 ]; then
      [ "$waited" -eq 0 ] || echo "  (waited ${waited} s for file creation to be fast again: 1,000 files in ${ms} ms)" >&2
      return 0
    fi
    sync
    sleep 5
    waited=$((waited + 5))
  done
}
