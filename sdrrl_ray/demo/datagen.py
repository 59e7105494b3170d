"""Writes the demo data files from the word table in :mod:`sdrrl_ray.demo.lexicon`.

Run ``python -m sdrrl_ray.demo.datagen`` to regenerate ``instructions.jsonl``, the parallel files,
the MT corpus and the MUSE dictionaries under ``sdrrl_ray/demo/data`` (``corpus.txt`` is hand-written
and left alone). The output is deterministic: the same code writes the same bytes.

Every question/answer pair exists in English, Japanese and Thai (:class:`~sdrrl_ray.demo.facts.QA`).
The English side goes into the instruction data, with the reading-comprehension rows of
:mod:`sdrrl_ray.demo.world` (multiple choice in BELEBELE's prompt layout, short answers in MKQA's).
The parallel files hold everyday sentences only (:func:`sentence_triples`), no instruction text. The
MT corpus (``mt/en-<lang>.tsv``, the "external MT system's" data) holds the translations of the
instruction questions and answers, of the reading sentences and of the everyday sentences. No file
holds any evaluation text (:mod:`sdrrl_ray.demo.evalgen`: its people are not in the training data).
"""

from __future__ import annotations

import itertools
import json
import os
import random
from typing import Iterator

from sdrrl_ray.demo import lexicon as lx
from sdrrl_ray.demo import world
from sdrrl_ray.demo.assets import demo_data_dir
from sdrrl_ray.demo.facts import FACTS, QA

SEED = 20261126


def _cap(text: str) -> str:
    return text[0].upper() + text[1:]


def _color_qa() -> Iterator[QA]:
    for en, ja, th, key in lx.COLOR_ITEMS:
        c = lx.COLORS[key]
        yield QA(
            f"What color is {en}?", f"{_cap(en)} is {c.en}.",
            f"{ja}は何色ですか？", f"{ja}は{c.ja_pred}です。",
            f"{th}สีอะไร", f"{th}สี{c.th}",
        )


def _legs_qa() -> Iterator[QA]:
    for a in lx.ANIMALS.values():
        if a.legs is None:
            continue
        yield QA(
            f"How many legs does {lx.article(a.en)} have?",
            f"{_cap(lx.article(a.en))} has {lx.en_number(a.legs)} legs.",
            f"{a.ja}の足は何本ですか？", f"{a.ja}の足は{a.legs}本です。",
            f"{a.th}มีกี่ขา", f"{a.th}มี{lx.th_number(a.legs)}ขา",
        )


def _home_qa() -> Iterator[QA]:
    for a in lx.ANIMALS.values():
        if a.home is None:
            continue
        h = lx.HOMES[a.home]
        if a.en == "fish":  # "fish" reads as a plural here
            en_q, en_a = "Where do fish live?", f"Fish live {h.en}."
        else:
            en_q, en_a = f"Where does {lx.article(a.en)} live?", f"{_cap(lx.article(a.en))} lives {h.en}."
        yield QA(
            en_q, en_a,
            f"{a.ja}はどこに住んでいますか？", f"{a.ja}は{h.ja}に住んでいます。",
            f"{a.th}อาศัยอยู่ที่ไหน", f"{a.th}อาศัยอยู่{h.th}",
        )


def _size_qa() -> Iterator[QA]:
    for i, (big, small) in enumerate(itertools.combinations(lx.SIZE_ORDER, 2)):
        b, s = lx.ANIMALS[big], lx.ANIMALS[small]
        first, second = (b, s) if i % 3 else (s, b)  # vary which animal is named first
        x, y = lx.article(first.en), lx.article(second.en)
        if i % 2 == 0:
            yield QA(
                f"Which is bigger, {x} or {y}?", f"{_cap(lx.article(b.en))} is bigger than {lx.article(s.en)}.",
                f"{first.ja}と{second.ja}では、どちらが大きいですか？", f"{b.ja}は{s.ja}より大きいです。",
                f"{first.th}กับ{second.th} ตัวไหนใหญ่กว่ากัน", f"{b.th}ใหญ่กว่า{s.th}",
            )
        else:
            yield QA(
                f"Which is smaller, {x} or {y}?", f"{_cap(lx.article(s.en))} is smaller than {lx.article(b.en)}.",
                f"{first.ja}と{second.ja}では、どちらが小さいですか？", f"{s.ja}は{b.ja}より小さいです。",
                f"{first.th}กับ{second.th} ตัวไหนเล็กกว่ากัน", f"{s.th}เล็กกว่า{b.th}",
            )


def _arithmetic_qa(rng: random.Random) -> Iterator[QA]:
    ops = (("plus", "たす", "บวก", lambda a, b: a + b),
           ("minus", "ひく", "ลบ", lambda a, b: a - b),
           ("times", "かける", "คูณ", lambda a, b: a * b))
    for en_op, ja_op, th_op, fn in ops:
        pairs = [(a, b) for a in range(1, 10) for b in range(1, 10) if en_op != "minus" or a > b]
        for a, b in sorted(rng.sample(pairs, 14)):
            c = fn(a, b)
            yield QA(
                f"What is {a} {en_op} {b}?", f"{a} {en_op} {b} is {c}.",
                f"{a}{ja_op}{b}はいくつですか？", f"{a}{ja_op}{b}は{c}です。",
                f"{a} {th_op} {b} เท่ากับเท่าไร", f"{a} {th_op} {b} เท่ากับ {c}",
            )


def _sequence_qa() -> Iterator[QA]:
    for n in (2, 4, 7, 9, 11, 13, 15, 18, 20, 25):
        yield QA(
            f"What number comes after {n}?", f"{n + 1} comes after {n}.",
            f"{n}の次の数はいくつですか？", f"{n}の次の数は{n + 1}です。",
            f"เลขที่อยู่ถัดจาก {n} คืออะไร", f"เลขที่อยู่ถัดจาก {n} คือ {n + 1}",
        )
    for d, nxt in zip(lx.DAYS, lx.DAYS[1:] + lx.DAYS[:1]):
        yield QA(
            f"What day comes after {d.en}?", f"{nxt.en} comes after {d.en}.",
            f"{d.ja}の次は何曜日ですか？", f"{d.ja}の次は{nxt.ja}です。",
            f"วันถัดจาก{d.th}คือวันอะไร", f"วันถัดจาก{d.th}คือ{nxt.th}",
        )
    for m, nxt in zip(lx.MONTHS, lx.MONTHS[1:] + lx.MONTHS[:1]):
        yield QA(
            f"What month comes after {m.en}?", f"{nxt.en} comes after {m.en}.",
            f"{m.ja}の次は何月ですか？", f"{m.ja}の次は{nxt.ja}です。",
            f"เดือนถัดจากเดือน{m.th}คือเดือนอะไร", f"เดือนถัดจากเดือน{m.th}คือเดือน{nxt.th}",
        )


def _country_qa() -> Iterator[QA]:
    for c in lx.COUNTRIES.values():
        cap = c.capital
        yield QA(
            f"What is the capital of {c.en}?", f"The capital of {c.en} is {cap.en}.",
            f"{c.ja}の首都はどこですか？", f"{c.ja}の首都は{cap.ja}です。",
            f"เมืองหลวงของประเทศ{c.th}คือเมืองอะไร", f"เมืองหลวงของประเทศ{c.th}คือ{cap.th}",
        )
        if c.language:
            lang = lx.LANGUAGES[c.language]
            yield QA(
                f"What language do people speak in {c.en}?", f"People in {c.en} speak {lang.en}.",
                f"{c.ja}では何語を話しますか？", f"{c.ja}では{lang.ja}を話します。",
                f"คนในประเทศ{c.th}พูดภาษาอะไร", f"คนในประเทศ{c.th}พูด{lang.th}",
            )


def _food_qa() -> Iterator[QA]:
    for f in lx.FOODS.values():
        if f.kind not in ("fruit", "vegetable"):
            continue
        en = f.en if f.plural == f.en else lx.article(f.en)
        ja_kind, th_kind = ("果物", "ผลไม้") if f.kind == "fruit" else ("野菜", "ผัก")
        yield QA(
            f"Is {en} a fruit or a vegetable?", f"{_cap(en)} is {lx.article(f.kind)}.",
            f"{f.ja}は果物ですか、野菜ですか？", f"{f.ja}は{ja_kind}です。",
            f"{f.th}เป็นผลไม้หรือผัก", f"{f.th}เป็น{th_kind}",
        )
    for en, ja, th, key in lx.TASTE_ITEMS:
        t = lx.TASTES[key]
        yield QA(
            f"How does {en} taste?", f"{_cap(en)} tastes {t.en}.",
            f"{ja}はどんな味ですか？", f"{ja}は{t.ja}です。",
            f"{th}รสชาติเป็นอย่างไร", f"{th}รส{t.th}",
        )


def _weather_qa() -> Iterator[QA]:
    for s in lx.SEASONS:
        n, w = s.name, s.weather
        yield QA(
            f"What is the weather like in {n.en}?", f"It is {w.en} in {n.en}.",
            f"{n.ja}はどんな天気ですか？", f"{n.ja}は{w.ja}です。",
            f"{n.th}อากาศเป็นอย่างไร", f"{n.th}อากาศ{w.th}",
        )


def _opposite_qa() -> Iterator[QA]:
    for a, b, both in lx.OPPOSITES:
        for x, y in ((a, b), (b, a)) if both else ((a, b),):
            yield QA(
                f'What is the opposite of "{x.en}"?', f'The opposite of "{x.en}" is "{y.en}".',
                f"「{x.ja}」の反対は何ですか？", f"「{x.ja}」の反対は「{y.ja}」です。",
                f'คำตรงข้ามของคำว่า "{x.th}" คืออะไร', f'คำตรงข้ามของคำว่า "{x.th}" คือ "{y.th}"',
            )


def qa_items() -> list[QA]:
    """Every question/answer pair of the demo, in English, Japanese and Thai."""
    rng = random.Random(SEED)
    groups = (_color_qa(), _legs_qa(), _home_qa(), _size_qa(), _arithmetic_qa(rng), _sequence_qa(),
              _country_qa(), _food_qa(), _weather_qa(), _opposite_qa(), iter(FACTS))
    return [qa for group in groups for qa in group]


def target_qa_items() -> list[QA]:
    """The few topics the demo LM also learns in ja / th (a small part of what its English data covers)."""
    return [*_color_qa(), *_legs_qa(), *_home_qa(), *_country_qa()]


def sentence_triples() -> list[tuple[str, str, str]]:
    """Everyday (en, ja, th) sentences for the parallel files, beyond the Q/A pairs."""
    rng = random.Random(SEED + 1)
    out: list[tuple[str, str, str]] = []
    foods = [f for f in lx.FOODS.values() if f.kind != "drink"]
    drinks = [f for f in lx.FOODS.values() if f.kind == "drink"]
    for f in foods:
        out.append((f"I like {f.plural}.", f"私は{f.ja}が好きです。", f"ฉันชอบ{f.th}"))
        out.append((f"I eat {f.plural} every day.", f"私は毎日{f.ja}を食べます。", f"ฉันกิน{f.th}ทุกวัน"))
    for d in drinks:
        out.append((f"I like {d.en}.", f"私は{d.ja}が好きです。", f"ฉันชอบ{d.th}"))
        out.append((f"I drink {d.en} every morning.", f"私は毎朝{d.ja}を飲みます。", f"ฉันดื่ม{d.th}ทุกเช้า"))
    pets = [lx.ANIMALS[k] for k in ("cat", "dog", "bird", "fish", "rabbit", "chicken", "duck")]
    for a in pets:
        for n in rng.sample(range(2, 10), 3):
            out.append((f"I have {lx.en_number(n)} {a.plural}.", f"私は{a.ja}を{n}{a.counter}飼っています。",
                        f"ฉันมี{a.th}{lx.th_number(n)}ตัว"))
    for t in lx.THINGS.values():
        for n in rng.sample(range(2, 10), 3):
            out.append((f"I have {lx.en_number(n)} {t.plural}.", f"私は{t.ja}を{n}{t.counter}持っています。",
                        f"ฉันมี{t.th}{lx.th_number(n)}{t.classifier}"))
    for t in lx.THINGS.values():
        for key in rng.sample(sorted(lx.COLORS), 2):
            c = lx.COLORS[key]
            out.append((f"My {t.en} is {c.en}.", f"私の{t.ja}は{c.ja_pred}です。", f"{t.th}ของฉันสี{c.th}"))
    for rel, job in rng.sample(list(itertools.product(lx.RELATIVES, lx.JOBS)), 36):
        out.append((f"My {rel.en} is {lx.article(job.en)}.", f"私の{rel.ja}は{job.ja}です。",
                    f"{rel.th}ของฉันเป็น{job.th}"))
    for p in lx.PLACES.values():
        d = rng.choice(lx.DAYS)
        out.append((f"I go to the {p.en} on {d.en}s.", f"私は毎週{d.ja}に{p.ja}へ行きます。", f"ฉันไป{p.th}ทุก{d.th}"))
        out.append((f"Where is the {p.en}?", f"{p.ja}はどこですか？", f"{p.th}อยู่ที่ไหน"))
        near = rng.random() < 0.5
        out.append((f"The {p.en} is near here." if near else f"The {p.en} is far from here.",
                    f"{p.ja}はこの近くにあります。" if near else f"{p.ja}はここから遠いです。",
                    f"{p.th}อยู่ใกล้ที่นี่" if near else f"{p.th}อยู่ไกลจากที่นี่"))
    for w in lx.WEATHER:
        out.append((f"It is {w.en} today.", f"今日は{w.ja}。", f"วันนี้{w.th}"))
    cities = [c.capital for c in lx.COUNTRIES.values()]
    for city, w in rng.sample(list(itertools.product(cities, lx.WEATHER)), 30):
        out.append((f"It is {w.en} in {city.en} today.", f"今日、{city.ja}は{w.ja}。", f"วันนี้ที่{city.th}{w.th}"))
    actions = (("is sleeping", "が寝ています。", "กำลังนอนหลับ"), ("is running", "が走っています。", "กำลังวิ่ง"),
               ("is eating", "がえさを食べています。", "กำลังกินอาหาร"))
    for rel, f in rng.sample(list(itertools.product(lx.RELATIVES, foods)), 60):
        out.append((f"My {rel.en} likes {f.plural}.", f"私の{rel.ja}は{f.ja}が好きです。", f"{rel.th}ของฉันชอบ{f.th}"))
    for a in lx.ANIMALS.values():
        en, ja, th = rng.choice(actions)
        out.append((f"The {a.en} {en}.", f"{a.ja}{ja}", f"{a.th}{th}"))
        out.append((f"I can see {lx.article(a.en)}.", f"{a.ja}が見えます。", f"ฉันมองเห็น{a.th}"))
    return out


def _past_tense_tasks() -> Iterator[dict]:
    verbs = (("walk", "walked", "to school"), ("eat", "ate", "an apple"), ("drink", "drank", "a glass of milk"),
             ("go", "went", "to the market"), ("see", "saw", "a big bird"), ("play", "played", "with my dog"),
             ("read", "read", "a short book"), ("write", "wrote", "a letter"), ("cook", "cooked", "rice for dinner"),
             ("swim", "swam", "in the sea"), ("run", "ran", "in the park"), ("sing", "sang", "a song"),
             ("buy", "bought", "some bread"), ("make", "made", "a cake"), ("watch", "watched", "the rain"),
             ("open", "opened", "the door"), ("take", "took", "my umbrella"), ("visit", "visited", "the zoo"),
             ("climb", "climbed", "a tall tree"), ("drive", "drove", "to the station"))
    for i, (present, past, rest) in enumerate(verbs):
        subject = ("I", "We", "They")[i % 3]
        yield dict(instruction="Rewrite the sentence in the past tense.",
                   input=f"{subject} {present} {rest}.", output=f"{subject} {past} {rest}.")


def _plural_tasks() -> Iterator[dict]:
    adjectives = ("big", "small", "hungry", "sleepy", "happy", "fast", "quiet", "brown", "white", "young")
    for a, adj in zip([a for a in lx.ANIMALS.values() if a.plural != a.en][:20], itertools.cycle(adjectives)):
        yield dict(instruction="Make the sentence plural.",
                   input=f"The {a.en} is {adj}.", output=f"The {a.plural} are {adj}.")


def english_tasks() -> list[dict]:
    """English-only instructions with a non-empty ``input`` (rewriting, classifying, counting)."""
    out = list(_past_tense_tasks()) + list(_plural_tasks())
    for a, b, _ in lx.OPPOSITES[:12]:
        out.append(dict(instruction="Give the opposite of the word.", input=a.en, output=b.en))
    for n in (3, 7, 11, 14, 19, 21, 36, 48, 55, 72, 90, 99):
        out.append(dict(instruction="Write the number in words.", input=str(n), output=lx.en_number(n)))
    for a, b in ((3, 4), (12, 5), (7, 8), (20, 13), (6, 9), (15, 15), (31, 8), (40, 2)):
        out.append(dict(instruction="Add the two numbers.", input=f"{a} and {b}", output=f"The sum is {a + b}."))
    for key in ("banana", "apple", "carrot", "grape", "lemon", "orange", "eggplant", "strawberry"):
        color = next(c for en, _, _, c in lx.COLOR_ITEMS if en.endswith(" " + key))
        out.append(dict(instruction="Name the color of the fruit or vegetable.", input=key,
                        output=f"{_cap(lx.article(key))} is {color}."))
    groups = {"pet": ("cat", "dog", "rabbit"), "farm animal": ("cow", "pig", "sheep", "goat", "chicken"),
              "wild animal": ("tiger", "lion", "bear", "giraffe", "whale")}
    for group, animals in groups.items():
        for a in animals:
            out.append(dict(instruction="Classify the animal as a pet, a farm animal or a wild animal.",
                            input=a, output=f"{_cap(lx.article(a))} is {lx.article(group)}."))
    for sentence in ("the sky is blue.", "my cat is sleeping.", "we go to school on mondays.",
                     "it is raining in the park.", "bananas are yellow.", "the library is near here."):
        fixed = _cap(sentence).replace("mondays", "Mondays")
        out.append(dict(instruction="Fix the capital letters in the sentence.", input=sentence, output=fixed))
    for words in (("pear", "apple", "mango"), ("tiger", "cat", "bear", "ant"), ("red", "blue", "green"),
                  ("milk", "tea", "coffee", "water"), ("train", "bus", "car")):
        out.append(dict(instruction="Sort the words in alphabetical order.",
                        input=", ".join(words), output=", ".join(sorted(words))))
    odd_ones = ((("cat", "dog", "apple", "horse"), "apple", "it is a fruit, not an animal"),
                (("red", "blue", "table", "green"), "table", "it is not a color"),
                (("Monday", "Friday", "June", "Sunday"), "June", "it is a month, not a day"),
                (("carrot", "potato", "onion", "lion"), "lion", "it is an animal, not a vegetable"),
                (("Tokyo", "Paris", "Japan", "Rome"), "Japan", "it is a country, not a city"),
                (("milk", "tea", "juice", "bread"), "bread", "it is not a drink"))
    for words, odd, why in odd_ones:
        out.append(dict(instruction="Find the word that does not belong.", input=", ".join(words),
                        output=f'"{odd}" does not belong, because {why}.'))
    examples = (("umbrella", "I take an umbrella when it rains."), ("library", "I borrow books at the library."),
                ("breakfast", "I eat bread and eggs for breakfast."),
                ("garden", "My mother grows tomatoes in the garden."),
                ("friend", "My friend and I play in the park."), ("winter", "It is cold in winter."),
                ("kitchen", "My father cooks rice in the kitchen."), ("ocean", "Whales swim in the ocean."))
    for word, sentence in examples:
        out.append(dict(instruction="Write a short sentence using the word.", input=word, output=sentence))
    return out


def instructions() -> list[dict]:
    """The English instruction data (Alpaca layout), in a fixed shuffled order: Q/A facts, short
    rewriting / classifying tasks and reading comprehension (:func:`sdrrl_ray.demo.world.reading_rows`)."""
    rows = [dict(instruction=qa.en_q, input="", output=qa.en_a) for qa in qa_items()] + english_tasks()
    rows += world.reading_rows()
    random.Random(SEED + 2).shuffle(rows)
    return rows


def _unique(pairs: list[tuple[str, str]], seed: int) -> list[tuple[str, str]]:
    firsts: dict[str, str] = {}
    for en, tgt in pairs:
        firsts.setdefault(en, tgt)  # the first pair of each English side, in first-seen order
    out = list(firsts.items())
    random.Random(seed).shuffle(out)
    return out


def parallel_pairs(lang: str) -> list[tuple[str, str]]:
    """(English, ``lang``) everyday sentence pairs (no instruction text), unique English side."""
    return _unique([(en, ja if lang == "ja" else th) for en, ja, th in sentence_triples()], SEED + 3)


def mt_pairs(lang: str) -> list[tuple[str, str]]:
    """The MT models' corpus: every Q/A pair, reading sentences / questions / options, everyday sentences."""
    col = {"ja": (2, 3), "th": (4, 5)}[lang]
    pairs = []
    for qa in qa_items():
        pairs += [(qa.en_q, qa[col[0]]), (qa.en_a, qa[col[1]])]
    pairs += world.reading_pairs(lang)
    pairs += [(en, ja if lang == "ja" else th) for en, ja, th in sentence_triples()]
    return _unique(pairs, SEED + 4)


def dictionary_pairs(lang: str) -> list[tuple[str, str]]:
    """(English word, ``lang`` word) pairs for the MUSE files: single words only, both sides."""
    idx = {"ja": 1, "th": 2}[lang]
    rows: list[tuple[str, str]] = []
    for c in lx.COLORS.values():
        rows += [(c.en, c.ja), (c.en, c.ja_pred)] if lang == "ja" else [(c.en, c.th), (c.en, "สี" + c.th)]
    for table in (lx.ANIMALS, lx.FOODS, lx.THINGS):
        for row in table.values():
            rows += [(row.en, row[idx + 1]), (row.plural, row[idx + 1])]
    for c in lx.COUNTRIES.values():
        rows += [(c.en, c[idx]), (c.capital.en, c.capital[idx])]
    words = [*lx.TASTES.values(), *lx.PLACES.values(), *lx.LANGUAGES.values(), *lx.RELATIVES, *lx.JOBS,
             *lx.DAYS, *lx.MONTHS, *lx.EXTRA_WORDS, *(s.name for s in lx.SEASONS), *(s.weather for s in lx.SEASONS)]
    words += [w for a, b, _ in lx.OPPOSITES for w in (a, b)]
    rows += [(w.en, w[idx]) for w in words]
    numbers = lx.JA_NUMBERS if lang == "ja" else [lx.th_number(n) for n in range(len(lx.JA_NUMBERS))]
    rows += [(lx.en_number(n), numbers[n]) for n in range(1, len(numbers))]
    out, seen = [], set()
    for en, tgt in rows:
        en = en.lower()  # MUSE dictionaries are lower-cased on the Latin side
        if " " in en or " " in tgt or (en, tgt) in seen:
            continue
        seen.add((en, tgt))
        out.append((en, tgt))
    return out


def _write_lines(path: str, lines: list[str]) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(line + "\n" for line in lines))


def write_all(data_dir: str) -> None:
    """(Re)write every generated data file under ``data_dir``."""
    _write_lines(os.path.join(data_dir, "instructions.jsonl"), [json.dumps(r, ensure_ascii=False) for r in instructions()])
    for lang in ("ja", "th"):
        for folder, get in (("parallel", parallel_pairs), ("mt", mt_pairs)):
            _write_lines(os.path.join(data_dir, folder, f"en-{lang}.tsv"), [f"{en}\t{t}" for en, t in get(lang)])
        pairs = dictionary_pairs(lang)
        _write_lines(os.path.join(data_dir, "dictionaries", f"en-{lang}.txt"), [f"{en} {t}" for en, t in pairs])
        reverse = sorted({(t, en) for en, t in pairs}, key=lambda p: (p[0], p[1]))
        _write_lines(os.path.join(data_dir, "dictionaries", f"{lang}-en.txt"), [f"{t} {en}" for t, en in reverse])


if __name__ == "__main__":
    write_all(demo_data_dir())
    print(f"wrote the demo data under {demo_data_dir()}")
