#!/usr/bin/env bash
# Reproduce results/records-*: each record recipe end to end, then copy its small outputs
# (summary, compressed file, command, wall time) into results/. LeNet-5 runs over three seeds.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs="${RUNS_DIR:-runs}"
for model in ${MODELS:-lenet5-caffe lenet-300-100}; do
    out="results/records-$model"
    mkdir -p "$out"
    start=$(date +%s)
    prunelab run --config "experiments/records/$model.toml" --runs-dir "$runs" | tee "$out/output.txt"
    run=$(sed -n 's/^run: //p' "$out/output.txt")
    cp "$run/summary.json" "$out/summary.json"
    cp "$run/quantized/model.plc" "$out/model.plc"
    sed -i 's#"file": "quantized/model.plc"#"file": "model.plc"#' "$out/summary.json"
    echo "prunelab run --config experiments/records/$model.toml   # $(( $(date +%s) - start )) s on $(nproc) cores" > "$out/command.txt"
done
if [ -z "${MODELS:-}" ] || [[ " $MODELS " == *" lenet5 "* ]]; then
    out="results/records-lenet5"
    mkdir -p "$out"
    start=$(date +%s)
    prunelab sweep experiments/records/lenet5-seeds.toml --runs-dir "$runs" --output "$out/sweep" | tee "$out/output.txt"
    echo "prunelab sweep experiments/records/lenet5-seeds.toml   # $(( $(date +%s) - start )) s on $(nproc) cores" > "$out/command.txt"
fi
