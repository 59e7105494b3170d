"""segment() / reassemble(): sentence cuts per script, structure and protected spans kept."""

import json

import pytest

from sdrrl_ray.mt.segment import reassemble, segment, split_into_sentences, strip_protected
from tests.conftest import real_data_path


def tag(plan):
    """A stand-in translation that makes every translated sentence visible: <<sentence>>."""
    return [f"<<{s}>>" for s in plan.segments]


EN_ANSWER = """Here are three tips. Each one helps!

1. Eat well. Drink water.
2) Sleep eight hours.
- Exercise: see https://example.com/run?x=1. It is free.
  * Nested item with `pip install x` inline.

```python
def f(x):
    return x. upper()  # not a sentence. Not translated!
```

Done. Mr. Smith agrees, e.g. on 3.14 days."""


def test_english_paragraphs_lists_and_code():
    plan = segment(EN_ANSWER, "en")
    assert plan.segments == (
        "Here are three tips.", "Each one helps!",
        "Eat well.", "Drink water.",
        "Sleep eight hours.",
        "Exercise: see", "It is free.",
        "Nested item with", "inline.",
        "Done.", "Mr. Smith agrees, e.g. on 3.14 days.",
    )
    out = reassemble(plan, tag(plan), "fr")
    assert out == """<<Here are three tips.>> <<Each one helps!>>

1. <<Eat well.>> <<Drink water.>>
2) <<Sleep eight hours.>>
- <<Exercise: see>> https://example.com/run?x=1. <<It is free.>>
  * <<Nested item with>> `pip install x` <<inline.>>

```python
def f(x):
    return x. upper()  # not a sentence. Not translated!
```

<<Done.>> <<Mr. Smith agrees, e.g. on 3.14 days.>>"""


def test_untranslated_reassembly_is_the_input():
    for text in (EN_ANSWER, "a\r\nb", "", "   ", "```\nunclosed fence. Still code.\n", "\n\n- x\n"):
        plan = segment(text, "en")
        assert reassemble(plan, list(plan.segments)) == text.replace("\r\n", "\n")


def test_japanese_sentences_without_spaces():
    text = "猫が寝ています。犬も寝ています！本当ですか？「はい。」と言った。\n\n* りんご\n* みかん"
    plan = segment(text, "ja")
    assert plan.segments == ("猫が寝ています。", "犬も寝ています！", "本当ですか？", "「はい。」と言った。", "りんご",
                             "みかん")
    # into English: sentences get a space between them; list markers stay
    out = reassemble(plan, ["The cat sleeps.", "The dog too!", "Really?", '"Yes," he said.', "apple", "orange"], "en")
    assert out == 'The cat sleeps. The dog too! Really? "Yes," he said.\n\n* apple\n* orange'


def test_into_japanese_drops_spaces_between_sentences():
    plan = segment("The cat sleeps. The dog sleeps too. See `x` now.", "en")
    out = reassemble(plan, ["猫が寝ています。", "犬も寝ています。", "見て", "ください。"], "ja")
    assert out == "猫が寝ています。犬も寝ています。見て `x` ください。"


def test_thai_spaces_separate_sentences_but_not_latin_words():
    text = "แมวกำลังนอนหลับ สุนัขก็นอนหลับเช่นกัน\nฉันใช้ Python ทุกวัน"
    plan = segment(text, "th")
    assert plan.segments == ("แมวกำลังนอนหลับ", "สุนัขก็นอนหลับเช่นกัน", "ฉันใช้ Python ทุกวัน")
    out = reassemble(plan, ["The cat sleeps.", "The dog sleeps too.", "I use Python every day."], "en")
    assert out == "The cat sleeps. The dog sleeps too.\nI use Python every day."


def test_khmer_sentence_mark():
    text = "ខ្ញុំចូលចិត្តផ្លែប៉ោម។ គាត់ទៅសាលារៀន។\n\n1. ជំហានទីមួយ។"
    plan = segment(text, "km")
    assert plan.segments == ("ខ្ញុំចូលចិត្តផ្លែប៉ោម។", "គាត់ទៅសាលារៀន។", "ជំហានទីមួយ។")
    assert reassemble(plan, tag(plan)) == "<<ខ្ញុំចូលចិត្តផ្លែប៉ោម។>> <<គាត់ទៅសាលារៀន។>>\n\n1. <<ជំហានទីមួយ។>>"


def test_english_into_thai_and_khmer_keeps_structure():
    text = "First point. Second point.\n\n- Item `code`\n\n```\nx = 1\n```"
    plan = segment(text, "en")
    for lang, words in (("th", ["หนึ่ง", "สอง", "รายการ"]), ("km", ["មួយ។", "ពីរ។", "ធាតុ"])):
        out = reassemble(plan, words, lang)
        assert out == f"{words[0]} {words[1]}\n\n- {words[2]} `code`\n\n```\nx = 1\n```"


def test_no_cut_after_abbreviations_initials_acronyms_decimals_or_lowercase():
    cases = {
        "Dr. Who met J. Smith in the U.S. yesterday.": 1,
        "Pi is 3.14 and e is 2.72.": 1,
        "Use e.g. apples, i.e. fruit.": 1,
        "It costs $5. that is cheap.": 1,  # lower case after the period: not a new sentence
        'He said "Stop." Then he left.': 2,
        "Wait... Really? Yes!": 3,
    }
    for text, n in cases.items():
        assert len(split_into_sentences(text, "en")) == n, text


def test_markers_headings_quotes_and_tables_are_kept():
    text = "# Title here\n> A quote. Another.\n(1) Numbered.\na) Lettered.\n| Name | Age |\n|---|---|\n| Tom | 12 |"
    plan = segment(text, "en")
    assert plan.segments == ("Title here", "A quote.", "Another.", "Numbered.", "Lettered.", "Name", "Age", "Tom")
    out = reassemble(plan, [s.upper() for s in plan.segments])
    assert out == ("# TITLE HERE\n> A QUOTE. ANOTHER.\n(1) NUMBERED.\na) LETTERED.\n"
                   "| NAME | AGE |\n|---|---|\n| TOM | 12 |")


def test_runs_without_letters_are_not_sent():
    plan = segment("42\n\n---\n\n3.14 + 2 = 5.14\n\n(see above)", "en")
    assert plan.segments == ("(see above)",)


def test_long_sentences_are_bounded():
    text = "This is a very long sentence, with several clauses, that goes on and on without stopping for a while."
    plan = segment(text, "en", max_chars=30)
    assert all(len(s) <= 30 for s in plan.segments) and len(plan.segments) > 2
    assert reassemble(plan, list(plan.segments)) == text
    ja = "あ" * 70 + "。"
    plan = segment(ja, "ja", max_chars=30)
    assert [len(s) for s in plan.segments] == [30, 30, 11]
    assert reassemble(plan, list(plan.segments)) == ja


def test_split_sentences_off_keeps_lines_whole():
    plan = segment("One. Two.\n- Three. Four.", "en", split_sentences=False)
    assert plan.segments == ("One. Two.", "Three. Four.")


def test_reassemble_checks_the_count():
    plan = segment("One. Two.", "en")
    with pytest.raises(ValueError, match="2 segments"):
        reassemble(plan, ["Un."])


def test_strip_protected():
    assert strip_protected("Run `ls -la` now. See https://x.com/a.\n\n```\ncode\n```\n- Done.") == "Run now. See Done."


@pytest.mark.realdata
def test_real_alpaca_answers_round_trip_and_never_send_code_or_urls():
    with open(real_data_path("alpaca", "alpaca_en_demo.json"), encoding="utf-8") as f:
        records = json.load(f)
    n_segments = 0
    for rec in records:
        for text in (rec["instruction"], rec["input"], rec["output"]):
            plan = segment(text, "en", max_chars=768)
            assert reassemble(plan, list(plan.segments)) == text.replace("\r\n", "\n")
            for s in plan.segments:
                assert "```" not in s and "http://" not in s and "https://" not in s
                assert s == s.strip() and len(s) <= 768
            n_segments += len(plan.segments)
    assert n_segments > 3 * len(records)  # long answers are really cut into sentences



@pytest.mark.parametrize(
    "lang,text,segments",
    [
        ("ja", "手順は次のとおりです。簡単です！\n\n1. `pip` を使います。\n2) 実行します。\n\n"
               "```bash\necho 完了。\n```\n詳細は https://example.jp/a を見てください。",
         ("手順は次のとおりです。", "簡単です！", "を使います。", "実行します。", "詳細は", "を見てください。")),
        ("th", "ขั้นตอนมีดังนี้ ง่ายมาก\n\n- ติดตั้ง `numpy` ก่อน\n- รันโปรแกรม\n\n```\nprint(1)\n```",
         ("ขั้นตอนมีดังนี้", "ง่ายมาก", "ติดตั้ง", "ก่อน", "รันโปรแกรม")),
        ("km", "នេះជាជំហាន។ វាងាយស្រួល។\n\n* ដំឡើង `numpy`។\n\n```\nx = 1\n```",
         ("នេះជាជំហាន។", "វាងាយស្រួល។", "ដំឡើង")),
    ],
)
def test_multi_paragraph_answers_with_lists_and_code_in_other_scripts(lang, text, segments):
    plan = segment(text, lang)
    assert plan.segments == segments
    assert reassemble(plan, list(plan.segments)) == text
    out = reassemble(plan, tag(plan), "en")
    code = text[text.index("```"):text.rindex("```") + 3]
    assert code in out  # the code block comes back byte for byte
    assert out.count("\n\n") == text.count("\n\n")  # paragraphs kept
    assert all(f"<<{s}>>" in out for s in segments)
