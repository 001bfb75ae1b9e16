#!/usr/bin/env bash
# Reproduce results/deep-compression-*: both Deep Compression recipes end to end, then copy the
# small outputs (summary, compressed file, the command) into results/.
set -euo pipefail
cd "$(dirname "$0")/.."
for model in lenet5-caffe lenet-300-100; do
    config="experiments/deep-compression-$model.toml"
    out="results/deep-compression-$model"
    mkdir -p "$out"
    prunelab run --config "$config" --runs-dir "${RUNS_DIR:-runs}" | tee "$out/output.txt"
    run=$(sed -n 's/^run: //p' "$out/output.txt")
    cp "$run/summary.json" "$out/summary.json"
    cp "$run/quantized/model.plc" "$out/model.plc"
    sed -i 's#"file": "quantized/model.plc"#"file": "model.plc"#' "$out/summary.json"
    seconds=$(python3 -c "import json; s = json.load(open('$out/summary.json'))['seconds']; print(', '.join(f'{k} {v:.0f} s' for k, v in s.items()))")
    echo "prunelab run --config $config   # stage times: $seconds; on $(nproc) cores, $(uname -m)" > "$out/command.txt"
done
