#!/usr/bin/env bash
# Build (or reuse) the COMET environment: unbabel-comet, which pins torch/transformers/pytorch-lightning
# versions that cannot share the main environment. The pipeline never imports it: it runs
# sdrrl_ray/filters/qe_worker.py there (filter.qe.python for CometKiwi, eval.comet.python for FLORES COMET).
#
#   ci/comet-env.sh                       # -> <repo>/.venv-comet
#   COMET_VENV=/opt/comet ci/comet-env.sh
#   COMET_ENV_FORCE=1 ci/comet-env.sh     # reinstall even if the venv looks complete
#
# Pins: torch 2.13.0 first (the machine's CPU wheel; an unpinned torch pulls a multi-GB CUDA build),
# unbabel-comet 2.2.7 with what it resolved here, and setuptools < 81: unbabel-comet 2.2.7 pulls
# torchmetrics 0.10, which imports pkg_resources (gone from setuptools 81).
# Idempotent: a marker file records the pin set; when it matches and `import comet` works, nothing is done.
# A fresh build takes about 70 s and 1.4 GB of disk.
set -euo pipefail

T0=$(date +%s)
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${COMET_VENV:-$REPO/.venv-comet}"
PYTHON="${PYTHON:-python3}"
PINS=(torch==2.13.0 unbabel-comet==2.2.7 "transformers==4.57.6" "pytorch-lightning==2.6.6" "numpy==1.26.4"
      "torchmetrics==0.10.3" "setuptools<81")
SPEC="v1 ${PINS[*]}"
MARKER="$VENV/.sdrrl-comet-env"

log() { printf '[comet-env] %s\n' "$*"; }

if [[ -z "${COMET_ENV_FORCE:-}" && -f "$MARKER" && "$(cat "$MARKER")" == "$SPEC" ]] \
   && "$VENV/bin/python" -c "import comet" >/dev/null 2>&1; then
    log "$VENV is up to date; nothing to do ($(( $(date +%s) - T0 )) s)"
    exit 0
fi
[[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
rm -f "$MARKER"
pip_q() {
    set +o pipefail
    "$VENV/bin/python" -m pip -q "$@" 2>&1 | { grep -v -E "^WARNING: Location '.*' is ignored|^\s*$" || true; }
    local rc=${PIPESTATUS[0]}
    set -o pipefail
    return "$rc"
}
log "1/2 ${PINS[0]} (local CPU wheel)"
pip_q install "${PINS[0]}"
log "2/2 ${PINS[*]:1}"
pip_q install "${PINS[@]}"
"$VENV/bin/python" -c "import comet, torch, transformers; print('[comet-env] ok: torch', torch.__version__, '| transformers', transformers.__version__)" 2>&1 | grep -v pkg_resources
echo "$SPEC" >"$MARKER"
log "done: $VENV ($(du -sh "$VENV" 2>/dev/null | cut -f1)) in $(( $(date +%s) - T0 )) s"
