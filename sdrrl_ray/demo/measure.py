"""Does the demo LM answer in the prompt's script? Fixed prompts, greedy answers, script shares.

The prompts are Q/A pairs held out of training in all three languages plus free-form questions
that the demo data never asks.
"""

from __future__ import annotations

from sdrrl_ray import languages

# English questions of the demo data left out of training in every language.
HELD_OUT = (
    "What color is a mouse?",
    "How many legs does a duck have?",
    "Where does a bird live?",
    "What is 8 minus 6?",
    "What month comes after December?",
    "What is the capital of Egypt?",
    "What language do people speak in Norway?",
    "Is a potato a fruit or a vegetable?",
    'What is the opposite of "bright"?',
    "How many minutes are in an hour?",
    "What color is the sea?",
    "How many legs does a spider have?",
    "Where does a camel live?",
    "Which is bigger, a horse or a dog?",
    "What is 6 plus 7?",
    "What day comes after Friday?",
    "What is the capital of Greece?",
    "How does honey taste?",
    "What is the weather like in autumn?",
    "What do bees make?",
)

FREE_PROMPTS = {
    "en": (
        "Tell me about cats.",
        "What is your favorite food?",
        "Describe the weather today.",
        "Where is Tokyo?",
        "Name an animal that lives in the sea.",
        "What do you like to do on Sundays?",
        "Which animals can fly?",
        "Please describe your house.",
    ),
    "ja": (
        "猫について教えてください。",
        "好きな食べ物は何ですか？",
        "今日の天気を説明してください。",
        "東京はどこにありますか？",
        "海に住んでいる動物を一つ挙げてください。",
        "日曜日は何をするのが好きですか？",
        "空を飛べる動物は何ですか？",
        "あなたの家について説明してください。",
    ),
    "th": (
        "เล่าเรื่องแมวให้ฟังหน่อย",
        "อาหารที่คุณชอบคืออะไร",
        "อธิบายอากาศวันนี้",
        "โตเกียวอยู่ที่ไหน",
        "บอกชื่อสัตว์ที่อาศัยอยู่ในทะเลมาหนึ่งชนิด",
        "วันอาทิตย์คุณชอบทำอะไร",
        "สัตว์อะไรบ้างที่บินได้",
        "ช่วยอธิบายบ้านของคุณหน่อย",
    ),
}

MIN_SHARE = 0.5  # an answer is "in the script" when most of its letters are


def eval_prompts() -> dict[str, list[str]]:
    """Per language: the held-out questions (their ja / th versions from the Q/A table), then the free ones."""
    from sdrrl_ray.demo import datagen

    out = {"en": list(HELD_OUT)}
    by_en = {qa.en_q: qa for qa in datagen.qa_items()}
    missing = [q for q in HELD_OUT if q not in by_en]
    if missing:
        raise ValueError(f"[Internal] held-out questions missing from the demo Q/A pairs: {missing}")
    out["ja"] = [by_en[q].ja_q for q in HELD_OUT]
    out["th"] = [by_en[q].th_q for q in HELD_OUT]
    for lang, prompts in FREE_PROMPTS.items():
        out[lang] += list(prompts)
    return out


def in_script(text: str, lang: str) -> bool:
    """True when most letters of ``text`` are in ``lang``'s script (Latin for English)."""
    return languages.script_share(text, languages.get(lang).script) >= MIN_SHARE


def script_correct_rates(engine, prompts: dict[str, list[str]], max_new_tokens: int = 32) -> dict[str, dict]:
    """Greedy answers of ``engine`` (an :class:`~sdrrl_ray.engines.base.Engine`) per language.

    Returns ``{lang: {"rate": share of answers in the script, "answers": [...]}}``.
    """
    from sdrrl_ray.engines.base import SamplingSettings
    from sdrrl_ray.prompts import render_prompt

    settings = SamplingSettings(max_new_tokens=max_new_tokens)
    out = {}
    for lang, questions in prompts.items():
        results = engine.generate([render_prompt(engine.tokenizer, q) for q in questions], settings)
        answers = [r.text for r in results]
        hits = sum(in_script(a, lang) for a in answers)
        out[lang] = {"rate": hits / len(answers), "answers": answers}
    return out
