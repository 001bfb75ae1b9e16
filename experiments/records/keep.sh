#!/usr/bin/env bash
# Copy a finished run's small outputs into results/: its summary, compressed file, the file's test
# accuracy in PyTorch, the C engine and onnxruntime, and its layers (decompress: compact
# architecture, byte split).
#   experiments/records/keep.sh RUN_DIR OUT_DIR
set -euo pipefail
run="$1"
out="$2"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$out"
cp "$run/summary.json" "$out/summary.json"
cp "$run/quantized/model.plc" "$out/model.plc"
sed -i 's#"file": "quantized/model.plc"#"file": "model.plc"#' "$out/summary.json"
prunelab evaluate "$out/model.plc" --json > "$out/file-test.json"
prunelab evaluate "$out/model.plc" --engine c --json > "$out/c-test.json"
prunelab decompress "$out/model.plc" > "$out/decompress.txt"
prunelab export "$out/model.plc" --format onnx --output "$scratch/model.onnx"
prunelab evaluate "$scratch/model.onnx" --json > "$out/onnx-test.json"
