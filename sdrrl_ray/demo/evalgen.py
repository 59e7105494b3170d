"""Writes the demo evaluation files (``sdrrl_ray/demo/eval_data``) in each benchmark's released format.

Run ``python -m sdrrl_ray.demo.evalgen`` to regenerate them; the output is deterministic (a unit
test checks that the committed files match byte for byte). Every item exists in English, Japanese
and Thai with the same id (the target-language items are the English items in that language), and
every item names people of :data:`sdrrl_ray.demo.world.EVAL_NAMES`, who appear in no training text,
so no evaluation passage, question or sentence occurs in the data the demo models train on.
"""

from __future__ import annotations

import gzip
import itertools
import json
import os
import random

from sdrrl_ray.demo import lexicon as lx
from sdrrl_ray.demo import world
from sdrrl_ray.demo.assets import eval_data_dir
from sdrrl_ray.demo.lexicon import Word

SEED = 20261206
N_READING = 500  # BELEBELE and MKQA items per language
N_SMALL = 200  # FLORES, XL-Sum, NER, off-target items per language
CODES = {"en": "eng_Latn", "ja": "jpn_Jpan", "th": "tha_Thai"}
XLSUM_NAMES = {"en": "english", "ja": "japanese", "th": "thai"}
DS = "2024-06-01"


def _stories() -> list[world.Story]:
    return world.stories(4 * N_READING, SEED, world.EVAL_NAMES)


def belebele_items() -> list[tuple[world.Story, world.Question]]:
    """Colour, "what" and "who" questions in turn, each after its own story."""
    return world.questions(_stories()[:N_READING * 2], world.KINDS, SEED + 1, world.EVAL_NAMES, True)[:N_READING]


def mkqa_items() -> list[tuple[world.Story, world.Question]]:
    """"Who has ...?" and "What does ... have?" questions after their story (stories of no BELEBELE
    item): the answer is a name or a thing of the passage."""
    return world.questions(_stories()[N_READING * 2:], ("who", "what"), SEED + 2, world.EVAL_NAMES, True)[:N_READING]


def mkqa_query(story: world.Story, q: world.Question, lang: str) -> str:
    return world.passage(story, lang) + ("" if lang == "ja" else " ") + q.text[lang]


def _belebele_lines(lang: str) -> list[str]:
    lines = []
    for i, (story, q) in enumerate(belebele_items(), start=1):
        rec = {"link": f"https://example.org/sdrrl-demo/reading/{i:03d}", "question_number": 1,
               "flores_passage": world.passage(story, lang), "question": q.text[lang]}
        rec.update({f"mc_answer{k + 1}": q.options[lang][k] for k in range(4)})
        rec.update(correct_answer_num=str(q.answer + 1), dialect=CODES[lang], ds=DS)
        lines.append(json.dumps(rec, ensure_ascii=False, separators=(",", ":")).replace("/", "\\/"))
    return lines


NO_TRUTH = (("why do people like music", "人はなぜ音楽が好きなのですか", "ทำไมคนถึงชอบดนตรี", "long_answer"),
            ("what will the weather be like next year", "来年の天気はどうなりますか", "ปีหน้าอากาศจะเป็นอย่างไร",
             "unanswerable"))


def _mkqa_lines() -> list[str]:
    lines = []
    for i, (story, q) in enumerate(mkqa_items()):
        queries = {lang: mkqa_query(story, q, lang) for lang in world.LANGS}
        answers = {lang: [{"type": "entity", "text": world.short_answer(q, lang), "aliases": []}]
                   for lang in world.LANGS}
        lines.append(json.dumps({"query": queries["en"], "answers": answers, "queries": queries,
                                 "example_id": 5000 + i}, ensure_ascii=False))
    for i, (en, ja, th, kind) in enumerate(NO_TRUTH):
        lines.append(json.dumps({"query": en, "answers": {lang: [{"type": kind, "text": None}] for lang in world.LANGS},
                                 "queries": {"en": en, "ja": ja, "th": th}, "example_id": 9000 + i},
                                ensure_ascii=False))
    return lines


def _combos(rng: random.Random, *pools) -> list[tuple]:
    combos = list(itertools.product(*pools))
    return rng.sample(combos, N_SMALL)


def flores_sentences() -> list[tuple[str, str, str]]:
    rng = random.Random(SEED + 3)
    # few animals and places: the files keep under 200 distinct characters (a test trains a
    # 200-piece SentencePiece model on them)
    animals = [lx.ANIMALS[a] for a in ("cat", "dog", "horse", "cow")]
    places = [lx.PLACES[p] for p in ("school", "park", "station", "zoo")]
    out = []
    for k, (n, d, a, p) in enumerate(_combos(rng, world.EVAL_NAMES, lx.DAYS, animals, places)):
        c = 2 + k % 7
        if k % 2:
            out.append((f"On {d.en}, {n.en} saw {lx.en_number(c)} {a.plural} near the {p.en}.",
                        f"{d.ja}、{n.ja}は{p.ja}の近くで{a.ja}を{c}{a.counter}見ました。",
                        f"{d.th} {n.th}เห็น{a.th}{lx.th_number(c)}ตัวใกล้{p.th}"))
        else:
            out.append((f"{n.en} walked to the {p.en} with {c} friends on {d.en}.",
                        f"{d.ja}、{n.ja}は友達{c}人と{p.ja}まで歩きました。",
                        f"{d.th} {n.th}เดินไป{p.th}กับเพื่อน{lx.th_number(c)}คน"))
    return out


def xlsum_items() -> list[dict]:
    """(lang -> {title, summary, text}) per item."""
    rng = random.Random(SEED + 4)
    fruits = [f for f in lx.FOODS.values() if f.kind in ("fruit", "vegetable")]
    out = []
    for n, p, f, w in _combos(rng, world.EVAL_NAMES, list(lx.PLACES.values()), fruits, lx.WEATHER):
        c = rng.randrange(2, 10)
        d = rng.choice(lx.DAYS)
        out.append({
            "en": dict(title=f"{n.en} goes to the {p.en}",
                       summary=f"{n.en} bought {lx.en_number(c)} {f.plural} at the {p.en}.",
                       text=f"{n.en} went to the {p.en} on {d.en}. It was {w.en} that day. "
                            f"{n.en} bought {lx.en_number(c)} {f.plural} there. {n.en} went home in the evening."),
            "ja": dict(title=f"{n.ja}、{p.ja}へ行く",
                       summary=f"{n.ja}は{p.ja}で{f.ja}を{c}個買いました。",
                       text=f"{n.ja}は{d.ja}に{p.ja}へ行きました。その日は{w.ja}。"
                            f"{n.ja}はそこで{f.ja}を{c}個買いました。{n.ja}は夕方に家に帰りました。"),
            "th": dict(title=f"{n.th}ไป{p.th}",
                       summary=f"{n.th}ซื้อ{f.th}{lx.th_number(c)}ลูกที่{p.th}",
                       text=f"{n.th}ไป{p.th}เมื่อ{d.th} วันนั้น{w.th} "
                            f"{n.th}ซื้อ{f.th}{lx.th_number(c)}ลูกที่นั่น {n.th}กลับบ้านตอนเย็น"),
        })
    return out


ORGS = (Word("Sun Bank", "サン銀行", "ธนาคารซัน"), Word("Star Hotel", "スターホテル", "โรงแรมสตาร์"),
        Word("Moon School", "ムーン学校", "โรงเรียนมูน"), Word("River Museum", "リバー博物館", "พิพิธภัณฑ์ริเวอร์"),
        Word("Lotus Market", "ロータス市場", "ตลาดโลตัส"), Word("Maple Hospital", "メープル病院", "โรงพยาบาลเมเปิล"))


def ner_sentences() -> list[dict]:
    """lang -> [(token, tag)] per sentence."""
    rng = random.Random(SEED + 5)
    cities = [c.capital for c in lx.COUNTRIES.values()]
    out = []
    for k, (n, o, city) in enumerate(_combos(rng, world.EVAL_NAMES, ORGS, cities)):
        def span(text: str, typ: str) -> list[tuple[str, str]]:
            return [(t, ("B-" if i == 0 else "I-") + typ) for i, t in enumerate(text.split())]
        if k % 2 == 0:
            en = span(n.en, "PER") + [("works", "O"), ("at", "O")] + span(o.en, "ORG") + [("in", "O")] + \
                span(city.en, "LOC") + [(".", "O")]
            ja = [(n.ja, "B-PER"), ("は", "O"), (city.ja, "B-LOC"), ("の", "O"), (o.ja, "B-ORG"), ("で", "O"),
                  ("働いて", "O"), ("います", "O"), ("。", "O")]
            th = [(n.th, "B-PER"), ("ทำงาน", "O"), ("ที่", "O"), (o.th, "B-ORG"), ("ใน", "O"), (city.th, "B-LOC")]
        else:
            en = span(n.en, "PER") + [("visited", "O")] + span(city.en, "LOC") + [("last", "O"), ("year", "O"),
                                                                                    (".", "O")]
            ja = [(n.ja, "B-PER"), ("は", "O"), ("去年", "O"), (city.ja, "B-LOC"), ("を", "O"), ("訪れました", "O"),
                  ("。", "O")]
            th = [(n.th, "B-PER"), ("ไป", "O"), ("เที่ยว", "O"), (city.th, "B-LOC"), ("เมื่อ", "O"), ("ปีที่แล้ว", "O")]
        out.append({"en": en, "ja": ja, "th": th})
    return out


def offtarget_items() -> list[dict]:
    """lang -> (instruction, response) per item."""
    rng = random.Random(SEED + 6)
    out = []
    for k, (n, c, t) in enumerate(_combos(rng, world.EVAL_NAMES, list(lx.COLORS.values()),
                                          list(lx.THINGS.values()))):
        f = world.Fact(n, c, t)
        en_t, ja_t, th_t = (world.thing_phrase(f, lang) for lang in world.LANGS)
        if k % 2 == 0:
            out.append({"en": (f"Write a short story about {n.en} and {en_t}.",
                               f"{n.en} found {en_t} and kept it."),
                        "ja": (f"{n.ja}と{ja_t}についての短い話を書いてください。",
                               f"{n.ja}は{ja_t}を見つけて大事にしました。"),
                        "th": (f"เขียนเรื่องสั้นเกี่ยวกับ{n.th}และ{th_t}", f"{n.th}เจอ{th_t}และเก็บไว้")})
        else:
            out.append({"en": (f"Tell me why {n.en} likes {en_t}.", f"{n.en} likes it because it is pretty."),
                        "ja": (f"{n.ja}が{ja_t}を好きな理由を教えてください。",
                               f"{n.ja}はそれがきれいなので好きです。"),
                        "th": (f"บอกหน่อยว่าทำไม{n.th}ชอบ{th_t}", f"{n.th}ชอบเพราะมันสวย")})
    return out


def _write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def _lines(lines: list[str]) -> str:
    return "".join(line + "\n" for line in lines)


def write_all(root: str) -> None:
    """(Re)write every evaluation file under ``root`` (README.md is left alone)."""
    flores = flores_sentences()
    xlsum, ner, off = xlsum_items(), ner_sentences(), offtarget_items()
    for i, lang in enumerate(world.LANGS):
        code = CODES[lang]
        _write(os.path.join(root, "belebele", f"{code}.jsonl"), _lines(_belebele_lines(lang)))
        _write(os.path.join(root, "flores", "flores200_dataset", "devtest", f"{code}.devtest"),
               _lines([s[i] for s in flores]))
        name = XLSUM_NAMES[lang]
        _write(os.path.join(root, "xlsum", f"{name}_test.jsonl"), _lines([
            json.dumps({"id": f"sdrrl-demo-news-{k:03d}", "url": f"https://example.org/sdrrl-demo/{name}/news/{k:03d}",
                        "title": it[lang]["title"], "summary": it[lang]["summary"], "text": it[lang]["text"]},
                       ensure_ascii=False)
            for k, it in enumerate(xlsum, start=1)]))
        _write(os.path.join(root, "ner", lang, "test"),
               "\n".join("".join(f"{lang}:{tok}\t{tag}\n" for tok, tag in s[lang]) for s in ner))
        if lang == "en":
            _write(os.path.join(root, "offtarget", "en.jsonl"), _lines([
                json.dumps({"instruction": it["en"][0], "context": "", "response": it["en"][1],
                            "category": "creative_writing"}, ensure_ascii=False) for it in off]))
        else:
            rows = [{"instruction": it[lang][0], "input": "", "id": f"sdrrl-demo-offtarget-{k}", "output": it[lang][1]}
                    for k, it in enumerate(off, start=1)]
            _write(os.path.join(root, "offtarget", f"{lang}.json"),
                   json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
    os.makedirs(os.path.join(root, "mkqa"), exist_ok=True)
    with gzip.GzipFile(os.path.join(root, "mkqa", "mkqa.jsonl.gz"), "wb", mtime=0) as gz:
        gz.write(_lines(_mkqa_lines()).encode("utf-8"))


def generated_files(root: str) -> list[str]:
    """Relative paths of the files :func:`write_all` writes."""
    out = []
    for folder, _, names in os.walk(root):
        out += [os.path.relpath(os.path.join(folder, n), root) for n in names if n != "README.md"]
    return sorted(out)


if __name__ == "__main__":
    write_all(eval_data_dir())
    print(f"wrote the demo evaluation files under {eval_data_dir()}")
