"""The optional packages by role (the extras of ``pyproject.toml``) and the one check that names them.

The core install (``pip install sdrrl-ray``) runs ``sdrrl config``, ``sdrrl plan``, ingest and Ray Data.
Each phase needs its extra: ``transfer-set`` ``[mt]``, ``train`` ``[train]``, ``eval`` ``[eval]``
(``[all]`` is all three and ``[s3]``). A phase checks, before it starts, the packages its config will
import; a missing one is one line naming the extra (``sdrrl train needs DeepSpeed: pip install
'sdrrl-ray[train]'``), exit status 2, no traceback.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Mapping, Sequence

from sdrrl_ray.config import Config
from sdrrl_ray.errors import UserError
from sdrrl_ray.schema import TRANSLATED_VARIANTS


@dataclass(frozen=True)
class Package:
    module: str  # the top-level module the code imports
    dist: str  # the distribution pyproject.toml lists
    name: str  # what the user reads


TORCH = Package("torch", "torch", "PyTorch")
CTRANSLATE2 = Package("ctranslate2", "ctranslate2", "CTranslate2")
SENTENCEPIECE = Package("sentencepiece", "sentencepiece", "sentencepiece")
LINGUA = Package("lingua", "lingua-language-detector", "lingua (lingua-language-detector)")
DEEPSPEED = Package("deepspeed", "deepspeed", "DeepSpeed")
MATPLOTLIB = Package("matplotlib", "matplotlib", "matplotlib")
SEQEVAL = Package("seqeval", "seqeval", "seqeval")
SACREBLEU = Package("sacrebleu", "sacrebleu", "sacreBLEU")
S3FS = Package("s3fs", "s3fs", "s3fs")

# extra -> the packages the code imports from it (tests/unit/test_extras.py holds pyproject.toml to this)
EXTRAS: dict[str, tuple[Package, ...]] = {
    "mt": (TORCH, CTRANSLATE2, SENTENCEPIECE, LINGUA),
    "train": (DEEPSPEED, TORCH, MATPLOTLIB),
    "eval": (TORCH, SEQEVAL, SACREBLEU, LINGUA, MATPLOTLIB),
    "s3": (S3FS,),
}
PHASE_EXTRA = {"transfer-set": "mt", "train": "train", "eval": "eval"}


def installed(module: str) -> bool:
    """Whether ``module`` can be imported here (found, not imported: a phase imports it where it runs)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent that fails to import, or a module without a spec
        return False


def missing(packages: Sequence[Package]) -> list[Package]:
    return [p for p in packages if not installed(p.module)]


def require(what: str, needs: Mapping[str, Sequence[Package]]) -> None:
    """Raise one UserError naming every missing package of ``needs`` (extra -> packages) and the
    extras that install them; nothing when all are there."""
    gone = {extra: missing(packages) for extra, packages in needs.items()}
    gone = {extra: packages for extra, packages in gone.items() if packages}
    if not gone:
        return
    names = list(dict.fromkeys(p.name for packages in gone.values() for p in packages))
    extras = "all" if {"mt", "train", "eval"} <= set(gone) else ",".join(gone)
    raise UserError(f"{what} needs {', '.join(names)}: pip install 'sdrrl-ray[{extras}]'")


def phase_needs(cfg: Config, phase: str) -> dict[str, tuple[Package, ...]]:
    """The packages phase ``phase`` will import with ``cfg`` (only those it certainly imports), by extra."""
    if phase == "transfer-set":
        packages = _transfer_set(cfg)
    elif phase == "train":
        packages = [DEEPSPEED, TORCH, MATPLOTLIB]
    elif phase == "eval":
        tasks = set(cfg.eval.tasks)
        packages = [TORCH] + [MATPLOTLIB] * bool(cfg.eval.plots) + [
            p for task, p in (("ner", SEQEVAL), ("flores", SACREBLEU), ("offtarget", LINGUA)) if task in tasks]
    else:
        return {}
    return {PHASE_EXTRA[phase]: tuple(dict.fromkeys(packages))} if packages else {}


def _transfer_set(cfg: Config) -> list[Package]:
    packages = []
    generates = cfg.answer.mode != "gold" or cfg.generate.generate_all
    if cfg.generate.engine == "hf" and generates:
        packages.append(TORCH)
    if any(s in cfg.transfer.subsets for s in TRANSLATED_VARIANTS):
        backend = cfg.translate.backend
        if backend == "ct2":
            packages.append(CTRANSLATE2)
        elif backend == "hf" or cfg.generate.engine == "hf":  # llm: prompted through generate.engine
            packages.append(TORCH)
        if cfg.filter.langid:
            packages.append(LINGUA)
    return packages


def require_phases(cfg: Config, phases: Sequence[str], what: str) -> None:
    """:func:`require` for every phase of a run at once (one line for all that is missing)."""
    needs: dict[str, tuple[Package, ...]] = {}
    for phase in phases:
        for extra, packages in phase_needs(cfg, phase).items():
            needs[extra] = tuple(dict.fromkeys(needs.get(extra, ()) + packages))
    require(what, needs)
