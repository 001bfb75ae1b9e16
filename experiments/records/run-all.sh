#!/usr/bin/env bash
# Reproduce results/records-*: each record recipe end to end (settings chosen on the validation
# split; summary.json final_test holds the one test-set evaluation), then the compressed file's
# ONNX export evaluated under onnxruntime, and the small outputs copied into results/.
# Then the accuracy-vs-size curves (experiments/records/curve-*.toml, *-bits.toml) and their report in docs/records.
#   experiments/records/run-all.sh                      (all; MODELS="lenet-300-100" for one)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs="${RUNS_DIR:-runs}"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

keep() {  # keep RUN_DIR OUT: summary, compressed file, its test accuracy in PyTorch, the C engine and
          # onnxruntime, and its layers (decompress: compact architecture, byte split)
    mkdir -p "$2"
    cp "$1/summary.json" "$2/summary.json"
    cp "$1/quantized/model.plc" "$2/model.plc"
    sed -i 's#"file": "quantized/model.plc"#"file": "model.plc"#' "$2/summary.json"
    prunelab evaluate "$2/model.plc" --json > "$2/file-test.json"
    prunelab evaluate "$2/model.plc" --engine c --json > "$2/c-test.json"
    prunelab decompress "$2/model.plc" > "$2/decompress.txt"
    prunelab export "$2/model.plc" --format onnx --output "$scratch/model.onnx"
    prunelab evaluate "$scratch/model.onnx" --json > "$2/onnx-test.json"
}

for model in ${MODELS:-lenet5-caffe lenet-300-100 lenet5 lenet5-caffe-60k lenet5-caffe-200 lenet-300-100-200 lenet5-caffe-units lenet5-svd}; do
    out="results/records-$model"
    mkdir -p "$out"
    start=$(date +%s)
    case "$model" in  # the sweeps: one folder per run in $out (earlier recipes' removed)
        lenet5) spec="lenet5-seeds --threads 1" ;;  # three seeds
        lenet5-caffe-60k) spec="lenet5-caffe-60k --threads 2 --jobs 1" ;;  # the recipe on all 60,000 images
        lenet5-svd) spec="lenet5-seeds-svd --threads 1 --jobs 1" ;;  # round two: Sparse VD, five seeds
        *-200|*-units) spec="$model --threads 1 --jobs 1" ;;  # round two: one run each (200 epochs: hours)
        *) spec="" ;;
    esac
    if [ -n "$spec" ]; then
        rm -rf "$out"/*/
        command="prunelab sweep experiments/records/${spec%% *}.toml --runs-dir $runs ${spec#* }"
        $command | tee "$out/output.txt"
        sweep="$runs/sweeps/${spec%% *}"
        for run in $(python3 -c "import json, sys; print(' '.join(json.load(open(sys.argv[1]))['runs']))" "$sweep/sweep.json"); do
            keep "$sweep/$run" "$out/$(basename "$run")"
        done
    else
        command="prunelab run --config experiments/records/$model.toml --runs-dir $runs"
        $command | tee "$out/output.txt"
        keep "$(sed -n 's/^run: //p' "$out/output.txt")" "$out"
    fi
    times=$(python3 -c "import json, os, sys; print('; '.join(', '.join(f'{k} {v:.0f} s' for k, v in json.load(open(p))['seconds'].items()) for p in sys.argv[1:] if os.path.exists(p)))" "$out"/summary.json "$out"/*/summary.json)
    echo "$command   # stage times (a reused stage keeps the time it took when made): $times; this invocation $(( $(date +%s) - start )) s wall on $(getconf _NPROCESSORS_ONLN) cores, $(uname -m)" > "$out/command.txt"
done
python3 experiments/records/summarize.py results/records-lenet5-caffe results/records-lenet-300-100 \
    results/records-lenet5 results/records-lenet5-caffe-60k results/records-lenet5-caffe-200 \
    results/records-lenet-300-100-200 results/records-lenet5-caffe-units results/records-lenet5-svd > results/records.md
# the accuracy-vs-size curves: more points per method (coarser codebooks on each round-two record's
# pruned model, per-layer widths chosen on validation, Deep Compression at three sparsities), then
# one report over all of them
for sweep in experiments/records/curve-*.toml experiments/records/*-bits.toml; do
    prunelab sweep "$sweep" --runs-dir "$runs" --threads 1
done
prunelab report "$runs"/sweeps/curve-* "$runs"/sweeps/*-bits --output docs/records
