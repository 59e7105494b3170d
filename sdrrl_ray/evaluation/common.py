"""What the task modules share: units, file lookup in the released layouts, prompt templates, shots, requests.

A *unit* is what one score is computed over: a task on one language (``ja``), or on one direction
(FLORES ``en-ja`` / ``ja-en``), or on one language pair (alignment ``ja-en``). The report puts each
unit in a column (the target language) and on a side: ``target`` (the paper's "target language"
rows) or ``english`` (the paper's "English" rows; FLORES X->EN, as in the paper's Table 6).

A *request* is one inference call: ``generate`` (an answer text), ``loglik`` (the log-likelihood of
each option continuing the prompt) or ``hidden`` (the last-token final-layer hidden state of a raw
text). Its message is ``prefix + body + suffix``; only ``body`` (a passage or an article) is
truncated when the prompt does not fit the model.
"""

from __future__ import annotations

import gzip
import io
import json
import string
from dataclasses import dataclass
from typing import Any, Iterable, Optional

from sdrrl_ray import languages, storage
from sdrrl_ray.config import EvalConfig
from sdrrl_ray.errors import UserError

ENGLISH = "en"
TARGET, ENGLISH_SIDE = "target", "english"


@dataclass(frozen=True)
class Unit:
    task: str
    name: str  # "ja", "en", "en-ja", "ja-en"
    lang: str  # language of the input the model reads
    out_lang: str  # language the model must answer in (FLORES: the target side of the direction)
    column: Optional[str]  # target language whose report column this fills; None: every column (English units)
    side: str  # TARGET | ENGLISH_SIDE


@dataclass(frozen=True)
class Context:
    """What tasks need from the run's config."""

    eval: EvalConfig
    seed: int = 0
    langid_min_share: float = 0.5
    languages: tuple = ()  # every language of the run (the off-target language identifier serves them all)

    def template(self, task: str, default: str) -> str:
        return self.eval.prompts.get(task, default)

    def max_new_tokens(self, task: str, default: Optional[int] = None) -> int:
        if task in self.eval.task_max_new_tokens:
            return int(self.eval.task_max_new_tokens[task])
        return int(default if default is not None else self.eval.max_new_tokens)


@dataclass(frozen=True)
class ModelEntry:
    """A model to evaluate: its report row, its folder and the target it serves."""

    name: str  # report row
    path: str
    target: Optional[str] = None  # None: serves every target

    @property
    def key(self) -> str:
        return self.name if self.target is None else f"{self.name}-{self.target}"

    def targets(self, all_targets: list[str]) -> list[str]:
        return list(all_targets) if self.target is None else [self.target]


def mono_units(task: str, targets: Iterable[str], english: bool = True) -> list[Unit]:
    """One unit per target language, plus English (shared by every column) when ``english``."""
    out = [Unit(task, t, t, t, t, TARGET) for t in targets]
    if english:
        out.append(Unit(task, ENGLISH, ENGLISH, ENGLISH, None, ENGLISH_SIDE))
    return out


def lang_name(iso: str) -> str:
    return languages.get(iso).name


# --------------------------------------------------------------------------------------------
# files


def first_existing(candidates: Iterable[str]) -> Optional[str]:
    for url in candidates:
        if storage.is_file(url):
            return url
    return None


def require_file(task: str, candidates: list[str], what: str) -> str:
    found = first_existing(candidates)
    if found is None:
        shown = ", ".join(candidates[:4]) + (" ..." if len(candidates) > 4 else "")
        raise MissingData(f"{task}: no {what} file; looked for {shown}")
    return found


class MissingData(UserError):
    """A task's file for a language is not in eval.data_dir (the report notes it and goes on)."""


def read_bytes(url: str) -> bytes:
    fs, path = storage.url_to_fs(url)
    with fs.open(path, "rb") as fh:
        data = fh.read()
    if url.endswith(".gz") or data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data


def read_lines(url: str) -> list[str]:
    """Lines of a UTF-8 text file (newline removed, a trailing empty line dropped)."""
    text = read_bytes(url).decode("utf-8")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def read_records(url: str) -> list[dict]:
    """Records of a JSON Lines file (optionally gzipped) or of a JSON array file."""
    text = read_bytes(url).decode("utf-8")
    stripped = text.lstrip()
    if stripped.startswith("["):
        data = json.loads(text)
        return [r for r in data if isinstance(r, dict)]
    out = []
    for i, line in enumerate(io.StringIO(text), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{url}: line {i} is not valid JSON ({exc.msg})") from None
        if isinstance(rec, dict):
            out.append(rec)
    return out


def list_files(url: str) -> list[str]:
    fs, path = storage.url_to_fs(url)
    if not fs.exists(path) or not fs.isdir(path):
        return []
    protocol = url.split("://", 1)[0] + "://" if "://" in url else ""
    return sorted(protocol + p if protocol and not p.startswith(protocol) else p for p in fs.ls(path, detail=False))


# --------------------------------------------------------------------------------------------
# prompts


class _Fields(dict):
    def __missing__(self, key):
        raise UserError(f"prompt template names a field {{{key}}} that this task does not provide")


def _format(template: str, fields: dict) -> str:
    return string.Formatter().vformat(template, (), _Fields(fields))


def split_template(template: str, fields: dict, body_field: Optional[str]) -> tuple[str, str, str]:
    """(prefix, body, suffix): the template filled in, split around the truncatable ``body_field``."""
    marker = "{" + body_field + "}" if body_field else None
    if marker and marker in template:
        pre, post = template.split(marker, 1)
        return _format(pre, fields), str(fields[body_field]), _format(post, fields)
    return _format(template, fields), "", ""


def with_shots(prefix: str, shots: list[str]) -> str:
    """Few-shot examples (already rendered with their answers) go before the test item."""
    if not shots:
        return prefix
    return "\n\n".join(shots) + "\n\n" + prefix


def take(items: list[dict], shots: int, limit: Optional[int]) -> tuple[list[dict], list[dict]]:
    """(shot examples, evaluated items): the first ``shots`` items are examples, the rest (up to ``limit``)
    are scored."""
    pool, rest = items[:shots], items[shots:]
    if limit is not None:
        rest = rest[:limit]
    return pool, rest


def request(
    key: str,
    kind: str,
    *,
    prefix: str = "",
    body: str = "",
    suffix: str = "",
    options: Optional[list[str]] = None,
    max_new_tokens: int = 0,
    raw: bool = False,
) -> dict:
    """One inference request; ``key`` is unique within a unit (an item id, or item id + variant)."""
    return dict(
        key=key,
        kind=kind,
        prefix=prefix,
        body=body,
        suffix=suffix,
        options=json.dumps(options or [], ensure_ascii=False),
        max_new_tokens=int(max_new_tokens),
        raw=bool(raw),
    )


def first_line(text: Optional[str]) -> str:
    """The first non-empty line of a generation (translations and summaries are one sentence)."""
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()
    return ""


def mean(values: list[float]) -> Optional[float]:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def as_text(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


# report columns and titles (tables and plots)
AGGREGATE_PARTS = {
    "nlu_target": [("belebele", "acc", TARGET)],
    "nlu_english": [("belebele", "acc", ENGLISH_SIDE)],
    "nlg_target": [("flores", "bleu", TARGET), ("xlsum", "rougeL", TARGET), ("mkqa", "f1", TARGET)],
    "nlg_english": [("flores", "bleu", ENGLISH_SIDE), ("xlsum", "rougeL", ENGLISH_SIDE), ("mkqa", "f1", ENGLISH_SIDE)],
}
AGGREGATE_TITLES = {"nlu_target": "NLU target", "nlu_english": "NLU English", "nlg_target": "NLG target",
                    "nlg_english": "NLG English"}


def column_code(iso: str) -> str:
    """The paper's column code: JPN, THA, CES ... (from the NLLB code)."""
    try:
        return languages.get(iso).nllb.split("_")[0].upper()
    except languages.UnsupportedLanguage:
        return iso.upper()
