#!/usr/bin/env bash
# Each install role in a fresh virtualenv: what `pip install sdrrl-ray[ROLE]` gives runs that role's command,
# and a phase whose extra is missing stops with one line naming it.
#
#   bash ci/roles.sh               # make test-roles; about 4 minutes on 2 cores with the demo models cached
#   ROLES="core mt" bash ci/roles.sh
#
# One wheel of this checkout is built; for each role a venv in a temp folder gets torch==2.13.0 first (the
# CPU wheel; not for core, which must run without torch), then the wheel with the role's extra, all under
# -c ci/constraints.txt (pip $PIP_PIN from a tools venv, with --python: it resolves in half the time of
# Python 3.11's bundled pip); the role's command runs there; the venv is removed. The roles chain on one
# tiny run of the demo config (8 items, ja), each running only its own phase on the previous role's output;
# the venvs of mt, train and eval are installed (and byte-compiled) in the background while earlier roles run:
#   core   sdrrl plan (tokenizers, no torch); `sdrrl train` must fail: one line naming [train], exit 2
#   all    every extra together: pip check, and every phase of the demo config finds its packages
#   vllm   not installed (official vLLM is CUDA-only, multi-GB): its wheel alone is resolved with --no-deps
#          --dry-run (one ~330 MB download, none of its dependencies) and ci/check_pins.py checks that
#          ci/constraints-gpu.txt is ci/constraints.txt with its explained changes, that its pins meet vllm's
#          requirements and pyproject.toml's ranges (and ci/constraints.txt's pins pyproject.toml's)
#   mt     sdrrl transfer-set (generation, CTranslate2 translation, lingua filter) on real local Ray;
#          `sdrrl eval` there must fail naming [eval]
#   train  sdrrl train (Ray Train + DeepSpeed ZeRO-3, 1 epoch, 1 worker)
#   eval   sdrrl eval (FLORES sacreBLEU, NER seqeval, off-target lingua, plots)
# The demo models come from $SDRRL_CACHE (.cache/sdrrl); when they are missing they are built once with
# .venv (minutes; make test builds them anyway) so that no role builds a model.
set -euo pipefail

T0=$(date +%s)
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
PYTHON="${PYTHON:-python3}"
PIP_PIN="${PIP_PIN:-pip==26.3}"
ROLES=" ${ROLES:-core mt train eval all vllm} "
WORK="$(mktemp -d "${TMPDIR:-/tmp}/sdrrl-roles.XXXXXX")"
LANE=""
cleanup() {
    if [[ -n "$LANE" ]]; then kill "$LANE" 2>/dev/null || true; fi
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
export SDRRL_CACHE="${SDRRL_CACHE:-$REPO/.cache/sdrrl}"
export TORCH_EXTENSIONS_DIR="$WORK/torch_extensions"  # DeepSpeed's ops built for these venvs, not for .venv
export RAY_AUTH_MODE="${RAY_AUTH_MODE:-disabled}" HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
export PIP_DISABLE_PIP_VERSION_CHECK=1
unset RAY_ADDRESS
OUT="$WORK/out"
RUN=(jobs/configs/demo.yaml "out_dir=$OUT" data.limit=8 "languages.targets=[ja]" parallel.n_pairs=4
     train.epochs=1 train.num_workers=1 train.export_every_epoch=false "eval.tasks=[flores,ner,offtarget]"
     eval.limit=8)

# never imported by the phases (what is, compiles on first import anyway): test suites, other model families
SKIP_COMPILE='/(tests?|testing)/|/transformers/models/(?!(auto|llama|m2m_100|marian|nllb)/)|/ray/(rllib|serve)/'

log() { printf '[roles %3ss] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }
fail() { log "FAIL: $*"; touch "$WORK/failed"; exit 1; }
wants() { [[ "$ROLES" == *" $1 "* ]]; }
venv() { echo "$WORK/venv-$1"; }
sdrrl() { local role=$1; shift; "$(venv "$role")/bin/sdrrl" "$@"; }
# pip -q still prints this machine's harmless index warnings; keep everything else
pip_q() {
    local role=$1 rc
    shift
    set +o pipefail
    "$WORK/tools/bin/pip" --python "$(venv "$role")/bin/python" -q "$@" 2>&1 \
        | { grep -v -E "^WARNING: Location '.*' is ignored|^\s*$" || true; }
    rc=${PIPESTATUS[0]}
    set -o pipefail
    return "$rc"
}

new_venv() {  # new_venv ROLE EXTRA [compile]: a fresh venv with the wheel[EXTRA] (torch first unless core)
    "$PYTHON" -m venv --without-pip "$(venv "$1")"
    if [[ "$1" != core ]]; then
        pip_q "$1" install --no-compile torch==2.13.0 -c ci/constraints.txt || fail "$1: torch"
    fi
    pip_q "$1" install --no-compile "$WHEEL${2:+[$2]}" -c ci/constraints.txt || fail "$1: pip install"
    pip_q "$1" check >/dev/null || { pip_q "$1" check; fail "$1: pip check"; }
    if [[ -n "${3:-}" ]]; then  # once, on every core, instead of in each Ray worker at its first import
        "$(venv "$1")/bin/python" -m compileall -q -j 0 -x "$SKIP_COMPILE" "$(venv "$1")/lib" >/dev/null 2>&1 || true
    fi
    log "$1: installed $("$(venv "$1")/bin/python" -c "import importlib.metadata as m
print(len(list(m.distributions())))") packages"
    touch "$WORK/ready-$1"
}

await() {  # a venv the background lane installs
    while [[ ! -e "$WORK/ready-$1" ]]; do
        if [[ -e "$WORK/failed" ]]; then exit 1; fi
        if ! kill -0 "$LANE" 2>/dev/null && [[ ! -e "$WORK/ready-$1" ]]; then fail "$1: the install lane stopped"; fi
        sleep 1
    done
}

drop_venv() { rm -rf "$(venv "$1")"; }

has() { "$(venv "$1")/bin/python" -c "import importlib.util as u, sys; sys.exit(0 if u.find_spec('$2') else 1)"; }

role_core() {
    new_venv core ""
    for m in torch deepspeed sklearn ctranslate2 seqeval matplotlib; do
        if has core "$m"; then fail "core installs $m"; fi
    done
    sdrrl core --version
    sdrrl core plan "${RUN[@]}" --json >"$WORK/plan.json" 2>"$WORK/plan.err" \
        || { cat "$WORK/plan.err"; fail "core: sdrrl plan"; }
    local rc=0
    sdrrl core train "${RUN[@]}" >"$WORK/train.out" 2>"$WORK/train.err" || rc=$?
    local want="sdrrl: error: sdrrl train needs DeepSpeed, PyTorch, matplotlib: pip install 'sdrrl-ray[train]'"
    if [[ $rc != 2 || "$(cat "$WORK/train.err")" != "$want" ]]; then
        cat "$WORK/train.err"
        fail "core: sdrrl train should exit 2 with: $want (got $rc)"
    fi
    log "core: sdrrl plan ok; sdrrl train exits 2: $want"
    drop_venv core
}

role_all() {
    new_venv all all
    "$(venv all)/bin/python" - "$REPO/jobs/configs/demo.yaml" <<'PY' || fail "all: a phase misses a package"
import sys
from sdrrl_ray.config import load_config
from sdrrl_ray.extras import EXTRAS, require_phases
require_phases(load_config(sys.argv[1], []), ["transfer-set", "train", "eval"], "sdrrl demo")
import ctranslate2, deepspeed, lingua, matplotlib, s3fs, sacrebleu, seqeval, sentencepiece, torch  # noqa
print("[roles] all: every phase of the demo config finds its packages:",
      ", ".join(sorted({p.dist for ps in EXTRAS.values() for p in ps})))
PY
    drop_venv all
}

role_vllm() {  # nothing installed: vllm's own wheel, without dependencies, read for its requirements
    "$PYTHON" -m venv --without-pip "$(venv vllm)"
    pip_q vllm install --dry-run --no-deps --ignore-installed --report "$WORK/vllm.json" \
        "$(grep -E '^vllm==' ci/constraints-gpu.txt)" || fail "vllm: dry run"
    "$PYTHON" ci/check_pins.py --gpu-up-to-date || fail "ci/constraints-gpu.txt is out of date"
    "$PYTHON" ci/check_pins.py ci/constraints-gpu.txt "$WORK/vllm.json" || fail "vllm: ci/constraints-gpu.txt"
    "$PYTHON" ci/check_pins.py ci/constraints.txt || fail "ci/constraints.txt against pyproject.toml"
    drop_venv vllm
}

role_mt() {
    await mt
    sdrrl mt transfer-set "${RUN[@]}" 2>"$WORK/mt.err" | grep -E "^(sdrrl|rows_in|  subsets)" \
        || { tail -20 "$WORK/mt.err"; fail "mt: sdrrl transfer-set"; }
    local rc=0
    sdrrl mt eval "${RUN[@]}" >/dev/null 2>"$WORK/eval.err" || rc=$?
    if [[ $rc != 2 ]] || ! grep -q "pip install 'sdrrl-ray\[eval\]'" "$WORK/eval.err"; then
        cat "$WORK/eval.err"
        fail "mt: sdrrl eval should exit 2 naming [eval] (got $rc)"
    fi
    log "mt: sdrrl eval exits 2: $(cat "$WORK/eval.err")"
    drop_venv mt
}

role_train() {
    await train
    sdrrl train train "${RUN[@]}" 2>"$WORK/train.err" | grep -E "^(sdrrl|model)" \
        || { tail -20 "$WORK/train.err"; fail "train: sdrrl train"; }
    drop_venv train
}

role_eval() {
    await eval
    sdrrl eval eval "${RUN[@]}" 2>"$WORK/eval.err" | grep -E "^(sdrrl|report)" \
        || { tail -20 "$WORK/eval.err"; fail "eval: sdrrl eval"; }
    grep -q "FLORES" "$OUT/report.md" || fail "eval: no FLORES table in $OUT/report.md"
    drop_venv eval
}

log "roles:$ROLES(work folder $WORK)"
if [[ -x "$REPO/.venv/bin/python" ]]; then  # the demo models every role's command reads (built once, cached)
    "$REPO/.venv/bin/python" -c "from sdrrl_ray.assets import resolve_model, resolve_translation_model
resolve_model('demo'); resolve_translation_model('demo:nllb', 'en', 'ja')"
fi
"$PYTHON" -m venv "$WORK/tools"
"$WORK/tools/bin/python" -m pip install -q "$PIP_PIN" 2>&1 | { grep -v -E "^WARNING: Location" || true; }
"$WORK/tools/bin/pip" wheel -q --no-deps -w "$WORK/dist" . >"$WORK/wheel.log" 2>&1 \
    || { cat "$WORK/wheel.log"; fail "building the wheel"; }
WHEEL="$(ls "$WORK"/dist/sdrrl_ray-*.whl)"
log "wheel: $(basename "$WHEEL"), $("$WORK/tools/bin/pip" --version | cut -d' ' -f1-2)"
(  # background lane: the phase roles' venvs, in the order their phases run
    for role in mt train eval; do
        if wants "$role"; then new_venv "$role" "$role" compile; fi
    done
) &
LANE=$!
for role in core all vllm mt train eval; do
    if wants "$role"; then
        "role_$role"
        log "$role: ok"
    fi
done
wait "$LANE" || fail "install lane"
LANE=""
log "all roles passed in $(( $(date +%s) - T0 )) s"
