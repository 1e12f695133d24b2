#!/usr/bin/env bash
# The GPU checks in one go: the gpu-marked tests, then the generalisation benchmark on CUDA.
#
#   bash benchmarks/gpu_check.sh OUT [CUBE]
#
# OUT receives the logs, nvidia-smi's report, the results page with its figure and tables,
# and histories.csv: per result, from its runs' histories, seconds per epoch, windows per
# second and peak GPU memory (fit_cost of reproduce_generalisation.py). CUBE is a daily
# cube written beforehand with
#   python benchmarks/reproduce_generalisation.py --save-cube CUBE
# for a machine without the data folder (default: build it from hh.zarr).
# GEN_SECONDS caps the benchmark (default 480 s): what is trained by then is kept under
# runs/generalisation, and a second call with the same arguments goes on from there.
set -uo pipefail
out=${1:?usage: bash benchmarks/gpu_check.sh OUT [CUBE]}
cube=${2:-}
mkdir -p "$out"
# absolute paths: the script works from the repository root
out=$(cd "$out" && pwd)
[ -n "$cube" ] && cube=$(cd "$(dirname "$cube")" && pwd)/$(basename "$cube")
cd "$(dirname "$0")/.."

nvidia-smi >"$out/nvidia-smi.txt" 2>&1 || echo "nvidia-smi failed (no NVIDIA driver?)" | tee -a "$out/nvidia-smi.txt"
python -c "import torch; assert torch.cuda.is_available(), 'torch sees no CUDA device'; print(torch.cuda.get_device_name())" \
    || exit 1

echo "== gpu-marked tests"
python -m pytest -m gpu -q -p no:cacheprovider 2>&1 | tee "$out/pytest_gpu.log" | tail -n 5
tests_rc=${PIPESTATUS[0]}

echo "== generalisation benchmark on CUDA"
args=(--seeds 5 --single ilstm fnn --threads 4 --reuse)
[ -n "$cube" ] && args+=(--cube "$cube")
timeout "${GEN_SECONDS:-480}" python benchmarks/reproduce_generalisation.py "${args[@]}" \
    2>&1 | tee "$out/generalisation.log" | grep -v "it/s" | tail -n 20
gen_rc=${PIPESTATUS[0]}

cp docs/results/generalisation.md docs/results/figures/generalisation_pooled.png \
    docs/results/data/generalisation_*.csv "$out/" 2>/dev/null
python - "$out" <<'EOF'
"""The fitting cost of every result under runs/generalisation (unfinished ones included)."""
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, "benchmarks")
import reproduce_generalisation as gen

rows = {}
for folder in sorted(Path("runs/generalisation").glob("*/*")):
    # a run stopped by GEN_SECONDS leaves its members in ".<model>.tmp-<id>"
    name = folder.name.lstrip(".").split(".tmp")[0]
    if folder.is_dir() and name in gen.MODELS:
        train = gen.experiment(name, [], folder.parent.name, 1, False).train
        rows[f"{folder.parent.name}/{folder.name}"] = gen.fit_cost(folder, train)
table = pd.DataFrame.from_dict(rows, orient="index")
table.to_csv(Path(sys.argv[1]) / "histories.csv", index_label="result")
print(table.round(3).to_string())
EOF
echo "tests rc $tests_rc, benchmark rc $gen_rc (124: stopped by GEN_SECONDS)"
[ "$tests_rc" -eq 0 ] && [ "$gen_rc" -eq 0 ]
