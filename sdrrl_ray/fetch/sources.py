"""The public data of the paper: each source's real URLs and where ``sdrrl data fetch`` puts its files.

The layout under ``DEST`` is the one ``jobs/configs/llama2-7b-ja.yaml`` reads with ``DEST=/mnt/shared/data``
(``<t>``: a target's ISO code; ``<code>``: its FLORES-200 code; English always comes with the
evaluation sets, whose English rows need it)::

    alpaca_data.json                                   data.path (Stanford Alpaca, 52,002 items)
    opus-100/en-<t>.tsv                                parallel.paths.<t> (en<TAB>target, OPUS-100 train split)
    muse/en-<t>.txt, muse/<t>-en.txt                   code_switch.dictionaries (MUSE file codes: nb is "no")
    eval/flores/flores200_dataset/{dev,devtest}/<code>.{dev,devtest}     eval.data_dir: FLORES, alignment
    eval/belebele/<code>.jsonl                         BELEBELE
    eval/xlsum/<language>_{val,test}.jsonl             XL-Sum (only the languages it covers)
    eval/mkqa/mkqa.jsonl.gz                            MKQA (all 26 languages in one file)
    eval/offtarget/databricks-dolly-15k.jsonl          off-target rate, English prompts
    eval/offtarget/bactrianx_<t>.json.gz               off-target rate, target prompts (Bactrian-X)

Each URL is ``<base of its host>/<path>``; :func:`resolve_bases` lets ``--base-url`` replace every
base (a mirror with the same paths), or one host's or one source's (``hf=URL,flores=URL``); the
Hugging Face base is ``$HF_ENDPOINT`` when set.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Iterable, Mapping, Optional

from sdrrl_ray import languages
from sdrrl_ray.errors import UserError

HOSTS = {
    "hf": "https://huggingface.co",
    "github": "https://github.com",
    "github_raw": "https://raw.githubusercontent.com",
    "fbai": "https://dl.fbaipublicfiles.com",
}
HF_ENDPOINT_ENV = "HF_ENDPOINT"
SOURCES = {
    "alpaca": "Stanford Alpaca instructions (GitHub tatsu-lab/stanford_alpaca)",
    "opus100": "OPUS-100 parallel sentences, train split (hub Helsinki-NLP/opus-100, Parquet -> TSV)",
    "muse": "MUSE bilingual dictionaries (dl.fbaipublicfiles.com/arrival/dictionaries)",
    "flores": "FLORES-200 dev and devtest (dl.fbaipublicfiles.com/nllb/flores200_dataset.tar.gz)",
    "belebele": "BELEBELE (hub facebook/belebele, data/<code>.jsonl)",
    "xlsum": "XL-Sum val and test (hub csebuetnlp/xlsum, data/<language>_XLSum_v2.0.tar.bz2)",
    "mkqa": "MKQA (GitHub apple/ml-mkqa, dataset/mkqa.jsonl.gz)",
    "dolly": "databricks-dolly-15k (hub databricks/databricks-dolly-15k)",
    "bactrianx": "Bactrian-X prompts per language (hub MBZUAI/Bactrian-X, data/<iso>.json.gz)",
}
OPUS100_SPLIT = "train"
FLORES_SPLITS = ("dev", "devtest")
XLSUM_SPLITS = ("val", "test")
# the languages of MBZUAI/Bactrian-X (its loading script's LANGS): ISO 639-1 codes, no Norwegian,
# Danish, Hungarian or Bulgarian
BACTRIAN_X = frozenset(
    "af ar az bn cs de es et fa fi fr gl gu he hi hr id it ja ka kk km ko lt lv mk ml mn mr my ne nl pl ps pt "
    "ro ru si sl sv sw ta te th tl tr uk ur vi xh zh en".split())
ENGLISH = "en"


@dataclass(frozen=True)
class Item:
    """One download: a URL path under a host's base and the files it gives under DEST."""

    source: str
    host: str
    path: str
    outputs: tuple[str, ...]  # relative to DEST, "/"-separated
    kind: str = "file"  # file | archive (members extracted) | opus_parquet (converted to TSV)
    members: tuple[tuple[str, str], ...] = ()  # archive: (member name, output)
    pair: tuple[str, str] = ()  # opus_parquet: (source code, target code) of the "translation" struct


def names(value, what: str, known: Iterable[str], default: Iterable[str]) -> list[str]:
    """``"a,b"``, ``["a", "b"]`` (or None for ``default``) as a checked list of names."""
    if value is None or value == "" or value == ():
        items = list(default)
    elif isinstance(value, str):
        items = [v.strip() for v in value.split(",")]
    else:
        items = [str(v).strip() for v in value]
    items = [v for v in dict.fromkeys(items) if v]
    unknown = [v for v in items if v not in known]
    if unknown or not items:
        raise UserError(f"{what}: unknown {unknown or 'empty'}; choose from {', '.join(known)}")
    return items


def targets_of(value) -> list[str]:
    """The target languages named by ``--languages`` (English, the source, is always fetched)."""
    known = [lang for lang in languages.PIPELINE_LANGUAGES if lang != ENGLISH]
    return [t for t in names(value, "--languages", [*known, ENGLISH], ["ja"]) if t != ENGLISH]


def resolve_bases(base_url: Optional[str], env: Mapping[str, str] = os.environ) -> dict[str, str]:
    """Base URL per host and per overridden source (see the module docstring)."""
    bases = dict(HOSTS)
    if env.get(HF_ENDPOINT_ENV):
        bases["hf"] = env[HF_ENDPOINT_ENV].rstrip("/")
    if not base_url:
        return bases
    parts = [p.strip() for p in str(base_url).split(",") if p.strip()]
    keyed = [re.match(r"^([a-z_0-9]+)=(.+)$", p) for p in parts]
    if len(parts) == 1 and keyed[0] is None:
        return {host: parts[0].rstrip("/") for host in HOSTS}
    for part, match in zip(parts, keyed):
        if match is None or (match.group(1) not in HOSTS and match.group(1) not in SOURCES):
            raise UserError(f"--base-url part {part!r}: give one URL for everything, or KEY=URL pairs where KEY is "
                            f"a host ({', '.join(HOSTS)}) or a source ({', '.join(SOURCES)})")
        bases[match.group(1)] = match.group(2).rstrip("/")
    return bases


def url_of(item: Item, bases: Mapping[str, str]) -> str:
    return f"{bases.get(item.source) or bases[item.host]}/{item.path}"


def _with_english(targets: list[str]) -> list[str]:
    return [ENGLISH, *targets]


def _alpaca(targets: list[str]) -> tuple[list[Item], list[str]]:
    return [Item("alpaca", "github_raw", "tatsu-lab/stanford_alpaca/main/alpaca_data.json", ("alpaca_data.json",))], []


def _opus100(targets: list[str]) -> tuple[list[Item], list[str]]:
    items = []
    for t in targets:
        pair = "-".join(sorted((ENGLISH, t)))  # the hub's folder names sort the codes: cs-en, en-ja
        items.append(Item("opus100", "hf", f"datasets/Helsinki-NLP/opus-100/resolve/main/{pair}/"
                          f"{OPUS100_SPLIT}-00000-of-00001.parquet", (f"opus-100/en-{t}.tsv",),
                          kind="opus_parquet", pair=(ENGLISH, t)))
    return items, []


def _muse(targets: list[str]) -> tuple[list[Item], list[str]]:
    items, notes = [], []
    for t in targets:
        code = languages.get(t).muse
        if not code:
            notes.append(f"muse: no public MUSE dictionary for {t} (its code-switching uses none)")
            continue
        for a, b in ((ENGLISH, code), (code, ENGLISH)):
            items.append(Item("muse", "fbai", f"arrival/dictionaries/{a}-{b}.txt", (f"muse/{a}-{b}.txt",)))
    return items, notes


def _flores(targets: list[str]) -> tuple[list[Item], list[str]]:
    members = []
    for lang in _with_english(targets):
        code = languages.get(lang).nllb
        for split in FLORES_SPLITS:
            name = f"flores200_dataset/{split}/{code}.{split}"
            members.append((name, f"eval/flores/{name}"))
    return [Item("flores", "fbai", "nllb/flores200_dataset.tar.gz", tuple(m[1] for m in members),
                 kind="archive", members=tuple(members))], []


def _belebele(targets: list[str]) -> tuple[list[Item], list[str]]:
    items = []
    for lang in _with_english(targets):
        code = languages.get(lang).nllb
        items.append(Item("belebele", "hf", f"datasets/facebook/belebele/resolve/main/data/{code}.jsonl",
                          (f"eval/belebele/{code}.jsonl",)))
    return items, []


def _xlsum(targets: list[str]) -> tuple[list[Item], list[str]]:
    items, notes = [], []
    for lang in _with_english(targets):
        name = languages.get(lang).xlsum
        if not name:
            notes.append(f"xlsum: XL-Sum has no {lang} (its XL-Sum rows are left out)")
            continue
        members = tuple((f"{name}_{split}.jsonl", f"eval/xlsum/{name}_{split}.jsonl") for split in XLSUM_SPLITS)
        items.append(Item("xlsum", "hf", f"datasets/csebuetnlp/xlsum/resolve/main/data/{name}_XLSum_v2.0.tar.bz2",
                          tuple(m[1] for m in members), kind="archive", members=members))
    return items, notes


def _mkqa(targets: list[str]) -> tuple[list[Item], list[str]]:
    notes = [f"mkqa: MKQA has no {t} (its MKQA rows are left out)" for t in targets if not languages.get(t).mkqa]
    item = Item("mkqa", "github", "apple/ml-mkqa/raw/master/dataset/mkqa.jsonl.gz", ("eval/mkqa/mkqa.jsonl.gz",))
    return [item], notes


def _dolly(targets: list[str]) -> tuple[list[Item], list[str]]:
    return [Item("dolly", "hf", "datasets/databricks/databricks-dolly-15k/resolve/main/databricks-dolly-15k.jsonl",
                 ("eval/offtarget/databricks-dolly-15k.jsonl",))], []


def _bactrianx(targets: list[str]) -> tuple[list[Item], list[str]]:
    items, notes = [], []
    for t in targets:
        if t not in BACTRIAN_X:
            notes.append(f"bactrianx: Bactrian-X has no {t} (off-target prompts for it: your own "
                         f"eval/offtarget/{t}.jsonl)")
            continue
        items.append(Item("bactrianx", "hf", f"datasets/MBZUAI/Bactrian-X/resolve/main/data/{t}.json.gz",
                          (f"eval/offtarget/bactrianx_{t}.json.gz",)))
    return items, notes


_PLANNERS = {"alpaca": _alpaca, "opus100": _opus100, "muse": _muse, "flores": _flores, "belebele": _belebele,
             "xlsum": _xlsum, "mkqa": _mkqa, "dolly": _dolly, "bactrianx": _bactrianx}


def plan(sources: list[str], targets: list[str]) -> tuple[list[Item], list[str]]:
    """The downloads for ``sources`` and ``targets`` (in SOURCES order), and notes on what no source has."""
    items, notes = [], []
    for name in SOURCES:
        if name in sources:
            more, why = _PLANNERS[name](targets)
            items += more
            notes += why
    return items, notes
