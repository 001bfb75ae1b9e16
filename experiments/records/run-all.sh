#!/usr/bin/env bash
# Reproduce results/records-*: each record recipe end to end (settings chosen on the validation
# split; summary.json final_test holds the one test-set evaluation), then the compressed file's
# ONNX export evaluated under onnxruntime, and the small outputs copied into results/.
# Then the accuracy-vs-size curves (experiments/records/curve-*.toml) and their report in docs/records.
#   experiments/records/run-all.sh                      (all; MODELS="lenet-300-100" for one)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs="${RUNS_DIR:-runs}"

for model in ${MODELS:-lenet5-caffe lenet-300-100 lenet5 lenet5-caffe-60k lenet5-caffe-200 lenet-300-100-200 lenet5-caffe-units lenet5-caffe-units-control lenet5-caffe-units-bits lenet5-caffe-200-bits lenet5-svd}; do
    out="results/records-$model"
    mkdir -p "$out"
    start=$(date +%s)
    case "$model" in  # the sweeps: one folder per run in $out (earlier recipes' removed)
        lenet5) spec="lenet5-seeds --threads 1" ;;  # three seeds
        lenet5-caffe-60k) spec="lenet5-caffe-60k --threads 2 --jobs 1" ;;  # the recipe on all 60,000 images
        lenet5-svd) spec="lenet5-seeds-svd --threads 1 --jobs 1" ;;  # round two: Sparse VD, five seeds
        *-200|*-units|*-control) spec="$model --threads 1 --jobs 1" ;;  # round two: one run each (200 epochs: hours)
        *-bits) spec="$model --threads 1 --jobs 1" ;;  # round two: per-layer code widths on a record's pruned model
        *) spec="" ;;
    esac
    if [ -n "$spec" ]; then
        rm -rf "$out"/*/
        command="prunelab sweep experiments/records/${spec%% *}.toml --runs-dir $runs ${spec#* }"
        $command | tee "$out/output.txt"
        sweep="$runs/sweeps/${spec%% *}"
        runs_of=$(python3 -c "import json, sys; print(' '.join(json.load(open(sys.argv[1]))['runs']))" "$sweep/sweep.json")
        count=$(echo $runs_of | wc -w)
        for run in $runs_of; do  # a sweep of one run is kept in $out itself, several one folder each
            if [ "$count" -eq 1 ]; then dest="$out"; else dest="$out/$(basename "$run")"; fi
            experiments/records/keep.sh "$sweep/$run" "$dest"
        done
    else
        command="prunelab run --config experiments/records/$model.toml --runs-dir $runs"
        $command | tee "$out/output.txt"
        experiments/records/keep.sh "$(sed -n 's/^run: //p' "$out/output.txt")" "$out"
    fi
    times=$(python3 -c "import json, os, sys; print('; '.join(', '.join(f'{k} {v:.0f} s' for k, v in json.load(open(p))['seconds'].items()) for p in sys.argv[1:] if os.path.exists(p)))" "$out"/summary.json "$out"/*/summary.json)
    echo "$command   # stage times (a reused stage keeps the time it took when made): $times; this invocation $(( $(date +%s) - start )) s wall on $(getconf _NPROCESSORS_ONLN) cores, $(uname -m)" > "$out/command.txt"
done
python3 experiments/records/summarize.py results/records-lenet5-caffe results/records-lenet-300-100 \
    results/records-lenet5 results/records-lenet5-caffe-60k results/records-lenet5-caffe-200 \
    results/records-lenet-300-100-200 results/records-lenet5-caffe-units results/records-lenet5-caffe-units-control \
    results/records-lenet5-caffe-units-bits \
    results/records-lenet5-caffe-200-bits results/records-lenet5-svd > results/records.md
# the accuracy-vs-size curves: more points per method (coarser codebooks on each round-two record's
# pruned model, Deep Compression at three sparsities), then one report over them (the per-layer
# widths are in results/records.md, not the figure)
for sweep in experiments/records/curve-*.toml; do
    prunelab sweep "$sweep" --runs-dir "$runs" --threads 1
done
prunelab report "$runs"/sweeps/curve-* --output docs/records
