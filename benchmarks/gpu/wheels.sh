#!/usr/bin/env bash
# Wheels that the offline GPU host lacks, for Python 3.12 x86-64, into .whl/ (at most 64 MiB travel
# with a run): ray without its Java worker jar, deepspeed built from its sdist, and small pure or
# binary dependencies missing from the host image (see benchmarks/README.md, "GPU host").
#   PART=translate bash benchmarks/gpu/wheels.sh   the translation part's own transfer instead: CTranslate2
#   and sentencepiece (CTranslate2's wheel does not fit beside Ray's); then run.sh --parts translate
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-.whl}
PY=${PYTHON:-python3}
PYVER=${PYVER:-3.12}; PYVER_TAG=${PYVER/./}
mkdir -p "$OUT"
PLAT=()
for p in manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux_2_24_x86_64 manylinux_2_27_x86_64 manylinux_2_28_x86_64 \
         manylinux_2_31_x86_64 manylinux_2_34_x86_64 manylinux_2_35_x86_64 manylinux1_x86_64; do PLAT+=(--platform "$p"); done
DL=("$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "${PYVER:-3.12}" --implementation cp "${PLAT[@]}" -d "$OUT")
if [ "${PART:-core}" = translate ]; then
  "${DL[@]}" ctranslate2==4.8.5 sentencepiece==0.2.3
  du -ch "$OUT"/*.whl | tail -1
  exit 0
fi
"${DL[@]}" ray==2.60.0 pydantic==2.14.4 pydantic-core==2.50.5 annotated-types typing-inspection \
  jsonschema jsonschema-specifications referencing rpds-py hjson tensorboardX termcolor
# ray without ray/jars (the Java worker, ~31 MiB compressed): repack the wheel and fix its RECORD
ray_whl=$(ls "$OUT"/ray-2.60.0-cp${PYVER_TAG:-312}-*.whl)
"$PY" - "$ray_whl" <<'PYEOF'
import os, sys, zipfile
src = sys.argv[1]
with zipfile.ZipFile(src) as zin:
    if not any(n.startswith("ray/jars/") for n in zin.namelist()):
        sys.exit(0)
    tmp = src + ".tmp"
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zout:
        for info in zin.infolist():
            if info.filename.startswith("ray/jars/"):
                continue
            data = zin.read(info)
            if info.filename.endswith(".dist-info/RECORD"):
                data = b"".join(l for l in data.splitlines(True) if not l.startswith(b"ray/jars/"))
            zout.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
os.replace(tmp, src)
PYEOF
# deepspeed ships only as an sdist: build the pure-Python wheel (ops are JIT-built on the host)
if ! ls "$OUT"/deepspeed-0.19.8-*.whl >/dev/null 2>&1; then
  DS_BUILD_OPS=0 "$PY" -m pip wheel -q --no-deps --no-build-isolation deepspeed==0.19.8 -w "$OUT" 2>/dev/null \
    || DS_BUILD_OPS=0 "$PY" -m pip wheel -q --no-deps deepspeed==0.19.8 -w "$OUT"
fi
du -ch "$OUT"/*.whl | tail -1
