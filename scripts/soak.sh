#!/usr/bin/env bash
# Soak test (not in CI): trains W-MLP for 10,000 steps (default) with a checkpoint every 100 and watches memory:
# the tool's own line at every checkpoint (--log-memory: RSS, GC heap, the device pool's reserved and in-use
# bytes and its allocation count) and the process's RSS from /proc every 5 s. Memory must be flat after
# warm-up: the script fails if RSS grows by more than 10 % (and 64 MB) from step 1,000 to the end, or the
# pool makes an allocation or grows after step 1,000.
# Usage: scripts/soak.sh [STEPS] [OUTPUT] [MODEL]   (OUTPUT: the raw lines and the summary; default bench/results/soak-<date>.txt;
# MODEL: mlp by default, toy for a quick look)
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-10000}
result=${2:-bench/results/soak-$(date -u +%F).txt}
model=${3:-mlp}
dotnet build src/IlgpuGan.Cli -c Release -v q -nologo >/dev/null
bin=$(mktemp -d)
cp -r src/IlgpuGan.Cli/bin/Release/net10.0/. "$bin/"      # a build in the work tree during the soak cannot touch the running tool
work=$(mktemp -d)
trap 'rm -rf "$work" "$bin"' EXIT
log="$work/train.log"
{
    echo "# scripts/soak.sh $steps $result $model: checkpoint every 100, $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$result"
start=$SECONDS
dotnet "$bin/IlgpuGan.Cli.dll" train --model "$model" --steps "$steps" --checkpoint-every 100 --sample-every 1000 --keep 3 \
    --accelerator cpu --progress plain --log-memory --out "$work/run" >"$log" 2>&1 &
pid=$!
while kill -0 "$pid" 2>/dev/null; do
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
    [[ -n "$rss" ]] && echo "proc: t $((SECONDS - start)) s rss_kb $rss" >>"$work/proc.log"
    sleep 5
done
wait "$pid" || { echo "train failed:"; tail -5 "$log"; exit 1; }
grep '^memory:' "$log" >>"$result"
cat "$work/proc.log" >>"$result"
grep '^\[' "$log" | tail -1 | sed 's/^/last: /' >>"$result"

# step rss_mb gc_heap_mb pool_reserved_mb pool_in_use_mb pool_allocations
awk -v steps="$steps" '
/^memory:/ { s = $3; rss[s] = $5; heap[s] = $7; res[s] = $9; alloc[s] = $13; last = s; if (!first) first = s }
END {
    w = (steps >= 2000) ? 1000 : first
    growth = rss[last] - rss[w]
    printf "summary: steps %d; at step %d: rss %.1f MB, gc heap %.1f MB, pool %.1f MB, %d allocations; at step %d: rss %.1f MB, gc heap %.1f MB, pool %.1f MB, %d allocations; rss growth %.1f MB (%.1f %%)\n",
        steps, w, rss[w], heap[w], res[w], alloc[w], last, rss[last], heap[last], res[last], alloc[last], growth, 100 * growth / rss[w]
    bad = 0
    if (growth > 64 && growth > 0.1 * rss[w]) { print "FAIL: RSS grew after warm-up"; bad = 1 }
    if (alloc[last] != alloc[w] || res[last] != res[w]) { print "FAIL: the device pool grew after warm-up"; bad = 1 }
    if (!bad) print "ok: memory flat after warm-up"
    exit bad
}' "$result" | tee -a "$result"
echo "wall time: $((SECONDS - start)) s" >>"$result"
echo "written: $result"
