"""The reading-comprehension world of the demo: short stories about people and their things.

A :class:`Story` is two people, each with one thing of one colour ("Tom has a red bag."), in
English, Japanese and Thai. Questions about a story ask the colour of someone's thing, what someone
has, or who has a given thing; the answer is always in the passage, so a tiny model can learn the
task, and fresh combinations give as many held-out items as needed.

People are split in two: :data:`TRAIN_NAMES` appear in every training text (instructions, the
parallel and MT corpora); :data:`EVAL_NAMES` appear only in the evaluation files
(:mod:`sdrrl_ray.demo.evalgen`), so no evaluation passage or question can occur in any training text.
"""

from __future__ import annotations

import itertools
import random
from typing import NamedTuple

from sdrrl_ray.demo import lexicon as lx
from sdrrl_ray.demo.lexicon import Word
from sdrrl_ray.prompts import BELEBELE_PROMPT

# Names are made of syllables written the same way in every name (English, katakana, Thai), so there
# are many of them: a model cannot learn them one by one, it has to read them off the passage.
SYLLABLES = (
    ("ka", "カ", "คา"), ("ri", "リ", "ริ"), ("mo", "モ", "โม"), ("na", "ナ", "นา"), ("to", "ト", "โต"),
    ("su", "ス", "ซุ"), ("mi", "ミ", "มิ"), ("ra", "ラ", "รา"), ("ko", "コ", "โค"), ("ta", "タ", "ทา"),
    ("ne", "ネ", "เน"), ("hi", "ヒ", "ฮิ"), ("po", "ポ", "โป"), ("ya", "ヤ", "ยา"), ("de", "デ", "เด"),
    ("bu", "ブ", "บุ"), ("lo", "ロ", "โล"), ("ki", "キ", "คิ"),
)


def _names() -> tuple[tuple[Word, ...], tuple[Word, ...]]:
    """(training names, evaluation-only names): two- and three-syllable names for training, other
    three-syllable names for evaluation (short ones could be words: リス is a squirrel)."""
    def word(c: tuple) -> Word:
        return Word("".join(s[0] for s in c).capitalize(), "".join(s[1] for s in c), "".join(s[2] for s in c))

    two, three = ([c for c in itertools.product(SYLLABLES, repeat=n) if len(set(c)) == n] for n in (2, 3))
    rng = random.Random(7)
    rng.shuffle(two)
    rng.shuffle(three)
    return tuple(map(word, two[:200] + three[:700])), tuple(map(word, three[700:1000]))


TRAIN_NAMES, EVAL_NAMES = _names()
LANGS = ("en", "ja", "th")
FACTS = 2  # facts per story
KINDS = ("color", "what", "who")


class Fact(NamedTuple):
    name: Word
    color: lx.Color
    thing: lx.Thing


class Story(NamedTuple):
    facts: tuple  # FACTS Facts: different people, colours and things


class Question(NamedTuple):
    kind: str  # color | what | who
    fact: Fact  # the fact asked about
    text: dict  # lang -> question
    options: dict  # lang -> four option texts (options[lang][answer] is the answer)
    answer: int  # 0-based index of the correct option


def _ja_adj(c: lx.Color) -> str:
    return c.ja_pred if c.ja_pred.endswith("い") else c.ja + "の"


def thing_phrase(f: Fact, lang: str, article: bool = True) -> str:
    """"a red bag" / "赤いかばん" / "กระเป๋าสีแดง"."""
    if lang == "en":
        phrase = f"{f.color.en} {f.thing.en}"
        return lx.article(phrase) if article else phrase
    if lang == "ja":
        return _ja_adj(f.color) + f.thing.ja
    return f"{f.thing.th}สี{f.color.th}"


def sentence(f: Fact, lang: str) -> str:
    if lang == "en":
        return f"{f.name.en} has {thing_phrase(f, 'en')}."
    if lang == "ja":
        return f"{f.name.ja}は{thing_phrase(f, 'ja')}を持っています。"
    return f"{f.name.th}มี{thing_phrase(f, 'th')}"


def passage(story: Story, lang: str) -> str:
    return ("" if lang == "ja" else " ").join(sentence(f, lang) for f in story.facts)


def color_word(c: lx.Color, lang: str) -> str:
    return {"en": c.en, "ja": c.ja, "th": "สี" + c.th}[lang]


def question_text(kind: str, f: Fact, lang: str) -> str:
    n, t = f.name, f.thing
    if kind == "color":
        return {"en": f"What color is {n.en}'s {t.en}?", "ja": f"{n.ja}の{t.ja}は何色ですか？",
                "th": f"{t.th}ของ{n.th}สีอะไร"}[lang]
    if kind == "what":
        return {"en": f"What does {n.en} have?", "ja": f"{n.ja}は何を持っていますか？", "th": f"{n.th}มีอะไร"}[lang]
    return {"en": f"Who has the {thing_phrase(f, 'en', article=False)}?",
            "ja": f"{thing_phrase(f, 'ja')}を持っているのは誰ですか？", "th": f"ใครมี{thing_phrase(f, 'th')}"}[lang]


def held_out(f: Fact) -> bool:
    """Whether ``f``'s (colour, thing) pair is for evaluation questions only: a third of the pairs are,
    so that no "who has the <colour> <thing>?" question and no "<colour> <thing>" answer of the
    evaluation files is a training text."""
    return (sorted(lx.COLORS).index(f.color.en) + 4 * sorted(lx.THINGS).index(f.thing.en)) % 3 == 0


def pick(story: Story, kind: str, rng: random.Random, evaluation: bool) -> int | None:
    """Which fact a question of ``kind`` asks about (None: no fact fits a "who" / "what" question).

    "who" questions name no person and "what" answers name no person, so both ask about held-out
    facts in the evaluation files and about the other facts in training (:func:`held_out`)."""
    if kind == "color":
        return rng.randrange(FACTS)
    fits = [k for k, f in enumerate(story.facts) if held_out(f) == evaluation]
    return rng.choice(fits) if fits else None


def make_story(rng: random.Random, names: tuple) -> Story:
    people = rng.sample(names, FACTS)
    colors = rng.sample(sorted(lx.COLORS), FACTS)
    things = rng.sample(sorted(lx.THINGS), FACTS)
    return Story(tuple(Fact(p, lx.COLORS[c], lx.THINGS[t]) for p, c, t in zip(people, colors, things)))


def ask(story: Story, kind: str, k: int, rng: random.Random, names: tuple) -> Question:
    """A question of ``kind`` about fact ``k`` of ``story``, with four shuffled options."""
    f = story.facts[k]
    # the three wrong options are not in the passage (as in most BELEBELE questions)
    if kind == "color":
        used = {x.color.en for x in story.facts}
        values = [f.color] + [lx.COLORS[c] for c in rng.sample([c for c in sorted(lx.COLORS) if c not in used], 3)]
        render = color_word
    elif kind == "what":
        used = {x.thing.en for x in story.facts}
        others = rng.sample([t for t in sorted(lx.THINGS) if t not in used], 3)
        values = [f]
        for t in others:  # a wrong option is no held-out pair: no evaluation answer is a training text
            colors = [c for c in lx.COLORS.values() if not held_out(Fact(f.name, c, lx.THINGS[t]))]
            values.append(Fact(f.name, rng.choice(colors), lx.THINGS[t]))

        def render(v, lang):
            return thing_phrase(v, lang)
    else:
        used_names = {x.name for x in story.facts}
        values = [f.name] + rng.sample([n for n in names[:60] if n not in used_names], 3)

        def render(v, lang):
            return getattr(v, lang)
    order = list(range(4))
    rng.shuffle(order)
    correct = order.index(0)
    options = {lang: [render(values[i], lang) for i in order] for lang in LANGS}
    return Question(kind, f, {lang: question_text(kind, f, lang) for lang in LANGS}, options, correct)


def short_answer(q: Question, lang: str) -> str:
    """The short answer (MKQA style): the correct option's text."""
    return q.options[lang][q.answer]


def stories(n: int, seed: int, names: tuple, avoid: set = frozenset()) -> list[Story]:
    """``n`` distinct stories (no two with the same passage), none whose English passage is in ``avoid``."""
    rng = random.Random(seed)
    out, seen = [], set(avoid)
    while len(out) < n:
        s = make_story(rng, names)
        key = passage(s, "en")
        if key not in seen:
            seen.add(key)
            out.append(s)
    return out


# --------------------------------------------------------------------------------------------
# training rows (English instruction data) in the layouts of the evaluation prompts

MC_TEMPLATE = BELEBELE_PROMPT  # the evaluation's own prompt (sdrrl_ray.prompts)
LETTERS = "ABCD"
TRAIN_SEED = 20261205
N_MC = 1000  # multiple-choice rows (BELEBELE layout, answered with the letter)
N_SHORT = 2500  # short-answer rows (MKQA layout: passage and question, the answer alone)


def mc_prompt(story: Story, q: Question, lang: str = "en") -> str:
    fields = {f"mc_answer{k + 1}": q.options[lang][k] for k in range(4)}
    return MC_TEMPLATE.format(flores_passage=passage(story, lang), question=q.text[lang], **fields)


def short_prompt(story: Story, q: Question, lang: str = "en") -> str:
    return passage(story, lang) + ("" if lang == "ja" else " ") + q.text[lang]


def training_items() -> tuple[list, list]:
    """(multiple-choice (story, question) pairs, short-answer pairs), all about :data:`TRAIN_NAMES`."""
    items = questions(stories(N_MC + N_SHORT, TRAIN_SEED, TRAIN_NAMES), KINDS, TRAIN_SEED, TRAIN_NAMES, False)
    return items[:N_MC], items[N_MC:]


def questions(pool: list[Story], kinds: tuple, seed: int, names: tuple, evaluation: bool) -> list:
    """(story, question) pairs, kinds in turn; a story without a fact for a "who" question asks the
    colour instead (training) or is skipped (evaluation: every item asks its kind)."""
    rng = random.Random(seed)
    out = []
    for story in pool:
        kind = kinds[len(out) % len(kinds)]
        k = pick(story, kind, rng, evaluation)
        if k is None:
            if evaluation:
                continue
            kind, k = "color", rng.randrange(FACTS)
        out.append((story, ask(story, kind, k, rng, names)))
    return out


def reading_rows() -> list[dict]:
    """English instruction rows (Alpaca layout) of the reading tasks."""
    mc, short = training_items()
    rows = [dict(instruction=mc_prompt(s, q), input="", output=LETTERS[q.answer]) for s, q in mc]
    rows += [dict(instruction=short_prompt(s, q), input="", output=short_answer(q, "en")) for s, q in short]
    return rows


MC_LINES = {  # the fixed lines of the multiple-choice prompt, for the MT corpus
    "Answer with the letter of the correct option.": ("正しい選択肢の記号で答えてください。",
                                                       "ตอบด้วยตัวอักษรของตัวเลือกที่ถูกต้อง"),
    "Answer:": ("答え：", "คำตอบ:"),
}


def reading_pairs(lang: str) -> list[tuple[str, str]]:
    """(English, ``lang``) sentences of half of the reading rows: passage sentences, questions, options."""
    mc, short = training_items()
    mc, short = mc[:N_MC // 2], short[:N_SHORT // 2]
    out = [(en, pair[0 if lang == "ja" else 1]) for en, pair in MC_LINES.items()]
    for s, q in mc + short:
        out += [(sentence(f, "en"), sentence(f, lang)) for f in s.facts]
        out.append((q.text["en"], q.text[lang]))
        out += list(zip(q.options["en"], q.options[lang]))
    for s, q in mc[:300]:
        sep = "：" if lang == "ja" else ": "
        out.append((f"Question: {q.text['en']}", ("質問" if lang == "ja" else "คำถาม") + sep + q.text[lang]))
    return out
