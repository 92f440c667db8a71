#!/usr/bin/env bash
# Runs IlgpuGan's `bench` and the TorchSharp/libtorch CPU peer (../shared/bench/torchsharp) on the
# same workloads, alternated in one run (the machine is shared and noisy: compare ratios within a
# run, never across runs). Appends the raw lines to bench/results/cpu-<date>.txt and prints them.
#   bench/compare-cpu.sh [WORKLOAD...]   (default: W-MLP W-DCGAN28 W-WGANGP28 K-GEMM K-CONV K-CONVT K-PEAK)
# Both count the same steps after 5 warm-up ones (W-MLP 200, W-DCGAN28 60, W-DCGAN64 10, W-WGANGP28 30: the peer's);
# both lines carry the median (ms_per_step) and the fastest step (ms_min).
# BATCHES="16 64 256" also runs each GAN workload at those batches (`--batch` on both sides; the lines then carry
# batch= and images_per_s=): issue 15's cost-against-work curves. bench/batch-curve.sh draws them.
# Needs gcc and patchelf for the peer's Debian 12 shim (apt-get install -y patchelf).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${ILGPUGAN_SHARED:-$root/../shared}
peer=${TMPDIR:-/tmp}/ilgpugan-torchsharp-peer
workloads=("$@"); [ ${#workloads[@]} -gt 0 ] || workloads=(W-MLP W-DCGAN28 W-WGANGP28 K-GEMM K-CONV K-CONVT K-PEAK)
rounds=${ROUNDS:-2}
out="$root/bench/results/cpu-$(date -u +%Y-%m-%d).txt"
mkdir -p "$(dirname "$out")"

if [ ! -f "$peer/bin/Release/net10.0/TorchSharpBench.dll" ]; then
  rm -rf "$peer"; cp -r "$shared/bench/torchsharp" "$peer"
  (cd "$peer" && dotnet build -c Release -v q -nologo >/dev/null)
fi
dotnet build "$root/src/IlgpuGan.Cli" -c Release -v q -nologo >/dev/null
tool="$root/src/IlgpuGan.Cli/bin/Release/net10.0/IlgpuGan.Cli.dll"
# The peer's README: libtorch has no CPU caching allocator; tuned malloc keeps big tensors mapped.
tuned='glibc.malloc.mmap_threshold=268435456:glibc.malloc.trim_threshold=2147483648'

{
  echo "# $(date -u +%FT%TZ) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs) (lscpu: $(lscpu | grep -m1 -E '^(Vendor ID|Model name)' | cut -d: -f2 | xargs), family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | xargs) model $(grep -m1 '^model\s' /proc/cpuinfo | cut -d: -f2 | xargs), avx512f: $(grep -qw avx512f /proc/cpuinfo && echo yes || echo no); load $(cut -d' ' -f1-3 /proc/loadavg))"
  for round in $(seq "$rounds"); do
    for w in "${workloads[@]}"; do
      batches=(""); [[ $w == W-* && -n "${BATCHES:-}" ]] && read -r -a batches <<<"$BATCHES"
      for b in "${batches[@]}"; do
        opt=(); [ -n "$b" ] && opt=(--batch "$b")
        echo "# round $round $w ${opt[*]}"
        ILGPUGAN_ACCELERATOR=cpu dotnet "$tool" bench "$w" "${opt[@]}" | grep -v '^#' | sed 's/^/ilgpugan /'
        (cd "$peer" && GLIBC_TUNABLES=$tuned dotnet bin/Release/net10.0/TorchSharpBench.dll "$w" "${opt[@]}" --no-write --no-wait) | grep -E "^$w" | sed 's/^/torchsharp /'
      done
    done
  done
} | tee -a "$out"
