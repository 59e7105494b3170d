"""Extras by role: pyproject.toml's extras hold what each phase imports (sdrrl_ray/extras.py), the core
install holds no phase package, every third-party import of the package is declared somewhere, and a
missing package is one line naming its extra."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from sdrrl_ray.config import load_config
from sdrrl_ray.errors import UserError
from sdrrl_ray.extras import EXTRAS, TORCH, phase_needs, require, require_phases
from tests.conftest import DEMO_CONFIG as DEMO
from tests.conftest import ROOT

CORE_MODULES = {"ray": "ray", "transformers": "transformers", "tokenizers": "tokenizers", "numpy": "numpy",
                "pyarrow": "pyarrow", "yaml": "pyyaml", "fsspec": "fsspec", "filelock": "filelock", "fire": "fire"}
# imported by the package, declared outside the role extras (why)
ELSEWHERE = {"vllm": "the [vllm] extra", "peft": "train.lora only; sdrrl_ray/train/run.py names it",
             "comet": "its own environment (ci/comet-env.sh)", "pytorch_lightning": "the COMET environment",
             "wandb": "train.report_to only; sdrrl_ray/train/trackers.py names it",
             "mlflow": "train.report_to only; sdrrl_ray/train/trackers.py names it"}


def pyproject() -> dict:
    with open(Path(ROOT) / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)["project"]


def dist_name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower()


def test_pyproject_extras_hold_what_each_role_imports():
    project = pyproject()
    extras = project["optional-dependencies"]
    for extra, packages in EXTRAS.items():
        declared = {dist_name(r) for r in extras[extra]}
        assert {p.dist for p in packages} <= declared, extra
    assert extras["all"] == ["sdrrl-ray[mt,train,eval,s3]"]  # every extra but [vllm] (CUDA-only, own torch)
    assert "sdrrl-ray[all]" in extras["test"]
    core = {dist_name(r): r for r in project["dependencies"]}
    assert set(CORE_MODULES.values()) <= set(core)
    heavy = {"torch", "deepspeed", "scikit-learn", "seqeval", "ctranslate2", "sacrebleu", "matplotlib", "vllm",
             "lingua-language-detector", "sentencepiece"}
    assert not heavy & set(core), "a phase package in the core install"
    for name, requirement in core.items():  # below the next major; fsspec is calendar-versioned
        assert name == "fsspec" or "<" in requirement, requirement
    torch = [r for reqs in extras.values() for r in reqs if dist_name(r) == "torch"]
    assert torch and all(r == "torch>=2.4" for r in torch)  # its range stays open


def third_party_imports() -> dict[str, set]:
    found: dict[str, set] = {}
    package = Path(ROOT) / "sdrrl_ray"
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and not node.level and node.module else []
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ("sdrrl_ray", "__future__"):
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_third_party_import_is_declared():
    in_extras = {p.module for packages in EXTRAS.values() for p in packages}
    undeclared = {m: sorted(paths) for m, paths in third_party_imports().items()
                  if m not in CORE_MODULES and m not in in_extras and m not in ELSEWHERE}
    assert not undeclared, f"imports in no extra of sdrrl_ray/extras.py (nor core): {undeclared}"


def test_a_missing_package_is_one_line_naming_its_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "deepspeed", None)  # how find_spec sees a package that is not installed
    cfg = load_config(DEMO, [])
    with pytest.raises(UserError) as info:
        require("sdrrl train", phase_needs(cfg, "train"))
    assert str(info.value) == "sdrrl train needs DeepSpeed: pip install 'sdrrl-ray[train]'"
    require("sdrrl transfer-set", phase_needs(cfg, "transfer-set"))  # all there
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(UserError, match=r"^x needs PyTorch, DeepSpeed: pip install 'sdrrl-ray\[mt,train\]'$"):
        require_phases(cfg, ["transfer-set", "train"], "x")  # one line for every phase, PyTorch named once
    with pytest.raises(UserError, match=r"^y needs PyTorch: pip install 'sdrrl-ray\[all\]'$"):
        require("y", {"all": (TORCH,)})


def test_a_phase_asks_only_for_what_its_config_imports():
    def needs(phase, *overrides) -> dict:
        return {extra: {p.module for p in packages}
                for extra, packages in phase_needs(load_config(DEMO, list(overrides)), phase).items()}

    assert needs("transfer-set") == {"mt": {"torch", "ctranslate2", "lingua"}}
    # gold answers, no translated subsets: no generation, MT or language-ID, nothing beyond the core
    assert needs("transfer-set", "transfer.subsets=[LL]", "answer.mode=gold") == {}
    assert needs("transfer-set", "transfer.subsets=[LL]") == {"mt": {"torch"}}
    assert needs("transfer-set", "translate.backend=hf", "filter.langid=false", "answer.mode=gold") == \
        {"mt": {"torch"}}
    assert needs("eval", "eval.tasks=[mkqa]") == {"eval": {"torch", "matplotlib"}}
    assert needs("eval", "eval.tasks=[mkqa]", "eval.plots=false") == {"eval": {"torch"}}
    assert needs("eval") == {"eval": {"torch", "matplotlib", "seqeval", "sacrebleu", "lingua"}}
    assert needs("train") == {"train": {"deepspeed", "torch", "matplotlib"}}


def test_cluster_installs_use_the_tested_gpu_pins():
    cluster = Path(ROOT) / "cluster"
    installs = [line for name in ("Dockerfile", "aws.yaml", "gcp.yaml")
                for line in (cluster / name).read_text(encoding="utf-8").splitlines()
                if "pip install" in line and "sdrrl-ray" in line and not line.lstrip().startswith("#")]
    assert len(installs) == 5
    assert all(re.search(r"-c \S*sdrrl-ray/ci/constraints-gpu\.txt", line) for line in installs), installs
    assert all("[all" in line or "${EXTRAS}" in line for line in installs), installs

    # ci/constraints.txt's pins with the explained GPU changes, and inside pyproject.toml's ranges
    for args in (["--gpu-up-to-date"], ["ci/constraints-gpu.txt"], ["ci/constraints.txt"]):
        res = subprocess.run([sys.executable, "ci/check_pins.py", *args], cwd=ROOT, capture_output=True, text=True)
        assert res.returncode == 0, res.stdout + res.stderr
