#!/usr/bin/env bash
# On the offline GPU host, from the repository root: install the carried wheels (.whl/, made by
# benchmarks/gpu/wheels.sh) into /tmp/site, record the machine, run benchmarks/gpu_bench.py.
#   bash benchmarks/gpu/run.sh [gpu_bench.py arguments]      (results go to $OUT, else benchmarks/results)
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-benchmarks/results}
WHEELS=${WHEELS:-.whl}
PY=${PY:-python3}
t0=$(date +%s)
"$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$WHEELS"/*.whl || exit 3
export PYTHONPATH=/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}
echo "wheels installed in $(( $(date +%s) - t0 )) s"
{ nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>&1 || true
  "$PY" -c "import sys, torch, transformers, ray, deepspeed, pyarrow; print(sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda, 'transformers', transformers.__version__, 'ray', ray.__version__, 'deepspeed', deepspeed.__version__, 'pyarrow', pyarrow.__version__)"
  nproc; free -g | head -2; } 2>&1 | tee "$OUT/host.txt"
"$PY" benchmarks/gpu_bench.py --out "$OUT" "$@"
rc=$?
echo "gpu_bench rc=$rc after $(( $(date +%s) - t0 )) s"
exit $rc
