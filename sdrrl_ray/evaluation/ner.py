"""Multilingual NER (WikiANN / PAN-X) by prompting; entity-level F1 with seqeval.

Released layout (CoNLL style, as WikiANN's Rahimi et al. split and XTREME's PAN-X): one token per
line, ``token<TAB or spaces>tag`` with IOB2 tags (``B-PER``, ``I-LOC``, ``O``), a blank line between
sentences; tokens may carry a language prefix (``ja:東京``), which is removed. Looked up as
``<data_dir>/ner/<lang>/<split>`` (or ``<lang>/<split>.txt``, ``<lang>/<split>.tsv``,
``<split>-<lang>.tsv``, ``<lang>.<split>``); the split is ``eval.split`` (default test).

The model reads the sentence (tokens joined with spaces, or without for unspaced scripts) and lists
the entities, one per line as ``TYPE: entity``. Each listed entity is matched to the first free span
of tokens whose text equals it (spaces ignored), which gives predicted IOB2 tags; seqeval scores
them against the gold tags (exact span and type). An entity not found in the sentence counts
against precision only through seqeval's totals (it has no span).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Optional

from sdrrl_ray import languages, storage
from sdrrl_ray.evaluation import common, stats
from sdrrl_ray.evaluation.common import Context, Unit
from sdrrl_ray.evaluation.metrics.ner import entity_counts, entity_scores, from_counts, spans

NAME = "ner"
DEFAULT_TEMPLATE = (
    "List the named entities in the sentence, one per line as TYPE: entity, where TYPE is PER (person), "
    "ORG (organization) or LOC (location). Write none if there is no entity.\nSentence: {sentence}"
)
ANSWER_TOKENS = 64
METRICS = (("f1", "entity F1"),)
TYPE_ALIASES = {"PERSON": "PER", "LOCATION": "LOC", "ORGANIZATION": "ORG", "ORGANISATION": "ORG",
                "MISCELLANEOUS": "MISC"}


def units(targets: list[str]) -> list[Unit]:
    return common.mono_units(NAME, targets)


def candidates(data_dir: str, lang: str, split: str) -> list[str]:
    root = storage.join(data_dir, NAME)
    return [
        storage.join(root, lang, split),
        storage.join(root, lang, f"{split}.txt"),
        storage.join(root, lang, f"{split}.tsv"),
        storage.join(root, f"{split}-{lang}.tsv"),
        storage.join(root, f"{lang}.{split}"),
    ]


def parse_conll(lines: list[str], lang: str) -> list[tuple[list[str], list[str]]]:
    """Sentences as (tokens, tags); ``<lang>:`` prefixes removed."""
    prefixes = {f"{code}:" for code in {lang, languages.get(lang).muse, languages.get(lang).m2m100} if code}
    sentences, toks, tags = [], [], []
    for line in lines + [""]:
        if not line.strip() or line.startswith("-DOCSTART-"):
            if toks:
                sentences.append((toks, tags))
            toks, tags = [], []
            continue
        parts = line.split("\t") if "\t" in line else line.split()
        if len(parts) < 2:
            raise common.MissingData(f"{NAME}: line {line!r} is not 'token<TAB>tag'")
        token, tag = parts[0].strip(), parts[-1].strip()
        for p in prefixes:
            if token.startswith(p) and len(token) > len(p):
                token = token[len(p):]
                break
        toks.append(token)
        tags.append(tag)
    return sentences


def load(data_dir: str, unit: Unit, ctx: Context) -> list[dict]:
    path = common.require_file(NAME, candidates(data_dir, unit.lang, ctx.eval.split), f"{unit.lang} {ctx.eval.split}")
    joiner = " " if languages.get(unit.lang).spaces else ""
    return [
        dict(item_id=f"s{i}", tokens=toks, tags=tags, sentence=joiner.join(toks))
        for i, (toks, tags) in enumerate(parse_conll(common.read_lines(path), unit.lang))
    ]


def gold_entities(item: dict) -> list[tuple[str, str]]:
    """(type, text) of the gold entities, in order (the oracle answer and the few-shot answers)."""
    joiner = " " if " " in item["sentence"] else ""
    return [(t, joiner.join(item["tokens"][s:e])) for t, s, e in spans(item["tags"])]


def format_entities(entities: list[tuple[str, str]]) -> str:
    return "\n".join(f"{t}: {text}" for t, text in entities) or "none"


def requests(items: list[dict], shots: list[dict], unit: Unit, ctx: Context) -> list[dict]:
    template = ctx.template(NAME, DEFAULT_TEMPLATE)
    shot_texts = [common.split_template(template, dict(sentence=s["sentence"]), None)[0] + "\n"
                  + format_entities(gold_entities(s))
                  for s in shots]
    tokens = ctx.max_new_tokens(NAME, min(ANSWER_TOKENS, ctx.eval.max_new_tokens))
    return [
        common.request(it["item_id"], "generate",
                       prefix=common.with_shots(common.split_template(template, dict(sentence=it["sentence"]), None)[0],
                                                shot_texts),
                       max_new_tokens=tokens)
        for it in items
    ]


def parse_entities(text: str, types: set[str]) -> list[tuple[str, str]]:
    """(type, entity text) pairs from an answer: lines ``TYPE: text`` / ``TYPE - text`` / ``[TYPE] text`` /
    ``text (TYPE)``."""
    out = []
    names = sorted(set(types) | set(TYPE_ALIASES), key=len, reverse=True)
    alt = "|".join(re.escape(n) for n in names)
    lead = re.compile(rf"^[\s\-\*\d\.\)]*\[?({alt})\]?\s*[:：\-–]\s*(.+?)\s*$", re.IGNORECASE)
    trail = re.compile(rf"^[\s\-\*\d\.\)]*(.+?)\s*[\(\[]({alt})[\)\]]\s*$", re.IGNORECASE)
    bracket = re.compile(rf"^[\s\-\*\d\.\)]*\[({alt})\]\s*(.+?)\s*$", re.IGNORECASE)
    for line in (text or "").splitlines():
        line = unicodedata.normalize("NFKC", line).strip()
        if not line:
            continue
        m = lead.match(line) or bracket.match(line)
        if m:
            typ, ent = m.group(1), m.group(2)
        else:
            m = trail.match(line)
            if not m:
                continue
            ent, typ = m.group(1), m.group(2)
        typ = TYPE_ALIASES.get(typ.upper(), typ.upper())
        ent = ent.strip().strip("\"'「」")
        if typ in types and ent:
            out.append((typ, ent))
    return out


def _key(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).lower().split())


def tag_entities(tokens: list[str], entities: list[tuple[str, str]]) -> list[str]:
    """IOB2 tags from listed entities: each takes the first free token span with its text."""
    keys = [_key(t) for t in tokens]
    tags = ["O"] * len(tokens)
    for typ, ent in entities:
        target = _key(ent)
        span: Optional[tuple[int, int]] = None
        for i in range(len(tokens)):
            if tags[i] != "O" or not target.startswith(keys[i]) or not keys[i]:
                continue
            acc = ""
            for j in range(i, len(tokens)):
                if tags[j] != "O":
                    break
                acc += keys[j]
                if acc == target:
                    span = (i, j + 1)
                    break
                if not target.startswith(acc):
                    break
            if span:
                break
        if span:
            tags[span[0]] = f"B-{typ}"
            for k in range(span[0] + 1, span[1]):
                tags[k] = f"I-{typ}"
    return tags


def score(items: list[dict], preds: dict, unit: Unit, ctx: Context) -> dict:
    types = {t.split("-", 1)[1] for it in items for t in it["tags"] if "-" in t} or {"PER", "ORG", "LOC"}
    gold, pred, per_item = [], [], []
    for it in items:
        ents = parse_entities((preds.get(it["item_id"]) or {}).get("prediction") or "", types)
        tags = tag_entities(it["tokens"], ents)
        gold.append(list(it["tags"]))
        pred.append(tags)
        per_item.append({"item_id": it["item_id"], "entities": ents, "tags": tags})
    s = entity_scores(gold, pred)
    metrics = {k: 100 * v for k, v in s.items()} if items else {"f1": None, "precision": None, "recall": None}
    ids, counts = [it["item_id"] for it in items], [entity_counts(g, p) for g, p in zip(gold, pred)]
    samples = {k: stats.corpus(ids, counts, lambda c, k=k: 100 * from_counts(c)[k]) for k in metrics}
    return {"metrics": metrics, "n": len(items), "info": {"types": sorted(types)}, "items": per_item,
            "samples": samples}
