#!/usr/bin/env bash
# Kills `ilgpu-gan train` with SIGKILL at random moments, N times (default 10), and checks each time that
# the latest checkpoint loads (`ilgpu-gan sample` reads it) and that `--resume` continues from exactly it.
# Usage: scripts/kill-test.sh [N] [MODEL]    (MODEL: mlp on the bundled MNIST by default; toy is faster)
# The xunit test ToolProcessTests.SigkillAtRandomMomentsNeverLeavesABadCheckpoint does the same on the toy model,
# and CI runs `scripts/kill-test.sh 3 toy`.
# Each run writes its own log: reading one shared log raced with the shell truncating it for the next
# run (the old run's "checkpoint" line was seen, and the new process was killed before it printed).
set -euo pipefail
cd "$(dirname "$0")/.."
kills=${1:-10}
model=${2:-mlp}
dotnet build src/IlgpuGan.Cli -c Release -v q -nologo >/dev/null
tool=(dotnet src/IlgpuGan.Cli/bin/Release/net10.0/IlgpuGan.Cli.dll)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out="$work/run"
latest_step() {   # the step of the checkpoint latest.safetensors names, or 0
    local f
    f=$(readlink -f "$out/checkpoints/latest.safetensors" 2>/dev/null || true)
    [[ -f "$f" ]] && basename "$f" | sed -E 's/step-0*([0-9]+)\.safetensors/\1/' || echo 0
}

previous=0
for ((i = 0; i < kills; i++)); do
    resume=(); [[ $i -gt 0 ]] && resume=(--resume)
    log="$work/log.$i"
    "${tool[@]}" train --model "$model" --out "$out" --steps 100000000 --checkpoint-every 10 --sample-every 30 \
        --keep 2 --accelerator cpu --progress plain "${resume[@]}" >"$log" 2>&1 &
    pid=$!
    # Wait for this process's first checkpoint (or a crash), then kill it at a random moment.
    for ((t = 0; t < 1200; t++)); do
        grep -q ': checkpoint' "$log" 2>/dev/null && break
        kill -0 "$pid" 2>/dev/null || { echo "train exited early:"; cat "$log"; exit 1; }
        sleep 0.1
    done
    grep -q ': checkpoint' "$log" || { echo "kill $((i + 1)): no checkpoint within 120 s:"; cat "$log"; exit 1; }
    sleep "0.$((RANDOM % 10))$((RANDOM % 10))"
    kill -KILL "$pid"; wait "$pid" 2>/dev/null || true

    if [[ $i -gt 0 ]] && ! grep -q "at step $previous " "$log"; then
        echo "kill $((i + 1)): the run did not resume from step $previous:"; head -3 "$log"; exit 1
    fi
    step=$(latest_step)
    if ! "${tool[@]}" sample "$out" --count 4 --out "$work/check.png" >/dev/null 2>"$work/err"; then
        echo "kill $i: the latest checkpoint (step $step) does not load: $(cat "$work/err")"; exit 1
    fi
    [[ $step -ge $previous ]] || { echo "kill $i: latest went back from step $previous to $step"; exit 1; }
    echo "kill $((i + 1))/$kills: latest checkpoint step $step loads"
    previous=$step
done

"${tool[@]}" train --out "$out" --resume --steps $((previous + 10)) --accelerator cpu --progress plain >"$work/log.final" 2>&1 \
    || { echo "the final --resume failed:"; cat "$work/log.final"; exit 1; }
grep -q "at step $previous " "$work/log.final" || { echo "the final run did not resume from step $previous"; exit 1; }
[[ $(latest_step) -eq $((previous + 10)) ]] || { echo "the final run did not reach step $((previous + 10))"; exit 1; }
echo "ok: $kills SIGKILLs, every latest checkpoint loaded, --resume continued from step $previous to $((previous + 10))"
