"""Translator.__call__ on dict batches with a fake backend (no model, no Ray); language codes; model specs."""

import os

import numpy as np
import pyarrow as pa
import pytest

import sdrrl_ray.assets as models
import sdrrl_ray.mt.backends as backends
from sdrrl_ray.errors import UserError
from sdrrl_ray.mt.backends import BackendOptions
from sdrrl_ray.mt.codes import LanguageCodes, detect_family, to_iso
from sdrrl_ray.mt.convert import m2m100_vocabulary
from sdrrl_ray.part_cache import count_rows
from sdrrl_ray.stages.translate import Translator
from sdrrl_ray.translation_cache import TranslationCache


class FakeBackend:
    """Translates by tagging: "<tgt:sentence>"; records every call; fails on sentences containing "FAIL"."""

    name = "fake"
    family = "nllb"
    instances = []

    def __init__(self, backend, model_path, options):
        self.backend = backend
        self.model_path = model_path
        self.options = options
        self.calls = []
        FakeBackend.instances.append(self)

    def translate_batch(self, segments, src, tgt):
        self.calls.append((list(segments), src, tgt))
        if any("FAIL" in s for s in segments):
            raise RuntimeError("the model choked on FAIL")
        return [f"<{tgt}:{s}>" for s in segments]


@pytest.fixture
def make_translator(monkeypatch):
    FakeBackend.instances = []
    monkeypatch.setattr(backends, "build_backend", FakeBackend)

    def make(model_paths=None, cache_url=None, **options):
        return Translator(backend="ct2", model_paths=model_paths or {"ja": "/models/x", "th": "/models/x"},
                          options=BackendOptions(beam_size=4, **{k: v for k, v in options.items() if k != "segment"}),
                          segment=options.get("segment", True), cache_url=cache_url)

    return make


def batch(rows, status=None):
    n = len(rows)
    return {
        "item_id": np.array([f"i{k}" for k in range(n)], dtype=object),
        "src_lang": np.array(["en"] * n, dtype=object),
        "tgt_lang": np.array([r[0] for r in rows], dtype=object),
        "question_src": np.array([r[1] for r in rows], dtype=object),
        "answer_src": np.array([r[2] for r in rows], dtype=object),
        "status": np.array(status or ["ok"] * n, dtype=object),
        "subset": np.array(["x"] * n, dtype=object),
    }


ANSWER = "First step. Second step.\n\n```\ncode. stays\n```\n- Item one."


def test_mixed_targets_one_call_per_target_with_every_segment(make_translator):
    tr = make_translator()
    out = tr(batch([("ja", "What is it?", ANSWER), ("th", "What is it?", "Yes."), ("ja", "Why?", "First step.")]))
    assert isinstance(out, pa.Table)
    d = out.to_pydict()
    assert d["question_tgt"] == ["<ja:What is it?>", "<th:What is it?>", "<ja:Why?>"]
    # (the space between the sentences stays: the fake's output does not end in Japanese punctuation)
    assert d["answer_tgt"][0] == "<ja:First step.> <ja:Second step.>\n\n```\ncode. stays\n```\n- <ja:Item one.>"
    assert d["answer_tgt"][1] == "<th:Yes.>"
    assert d["translate_error"] == [None, None, None]
    assert d["subset"] == ["x", "x", "x"]  # other columns pass through
    (backend,) = FakeBackend.instances
    calls = {tgt: segs for segs, _, tgt in backend.calls}
    assert len(backend.calls) == 2  # one call per target language
    # every segment of the group in that one call, each distinct sentence once
    assert calls["ja"] == ["What is it?", "First step.", "Second step.", "Item one.", "Why?"]
    assert calls["th"] == ["What is it?", "Yes."]
    assert backend.options.beam_size == 4


def test_saved_translations_are_reused_by_a_later_translator(make_translator, tmp_path):
    cache = str(tmp_path / "translations" / "key")
    first = make_translator(cache_url=cache)(batch([("ja", "What is it?", "First step. Second step."),
                                                    ("th", "Why?", "Yes.")]))
    assert count_rows(cache) == 5  # ja: 3 distinct sentences, th: 2
    later = make_translator(cache_url=cache)  # another actor, run or compare arm with the same key
    again = later(batch([("ja", "What is it?", "Second step. New one."), ("th", "Why?", "Yes.")])).to_pydict()
    backend = FakeBackend.instances[-1]
    assert backend.calls == [(["New one."], "en", "ja")]  # only the sentence never translated before
    assert again["question_tgt"] == first.to_pydict()["question_tgt"]
    assert again["answer_tgt"] == ["<ja:Second step.> <ja:New one.>", "<th:Yes.>"]
    assert count_rows(cache) == 6
    assert TranslationCache(cache).get("en", "th", "Yes.") == "<th:Yes.>"
    assert TranslationCache(cache).get("en", "ja", "Yes.") is None  # keyed by the language pair too


def test_rejected_rows_and_missing_answers_are_untouched(make_translator):
    tr = make_translator()
    d = tr(batch([("ja", "Q1?", None), ("ja", "Q2?", "A2."), ("th", "Q3?", "A3.")],
                 status=["ok", "rejected", "ok"])).to_pydict()
    assert d["question_tgt"] == ["<ja:Q1?>", None, "<th:Q3?>"]
    assert d["answer_tgt"] == [None, None, "<th:A3.>"]
    assert d["status"] == ["ok", "rejected", "ok"]
    assert out_types_ok(tr(batch([("ja", "Q?", "A.")], status=["rejected"])))


def out_types_ok(table):
    return all(table.schema.field(c).type == pa.string() for c in ("question_tgt", "answer_tgt", "translate_error"))


def test_a_failing_row_does_not_fail_the_batch(make_translator):
    tr = make_translator()
    d = tr(batch([("ja", "Fine?", "Yes."), ("ja", "Bad?", "This will FAIL."),
                  ("ja", "Also fine?", "Yes.")])).to_pydict()
    assert d["question_tgt"] == ["<ja:Fine?>", None, "<ja:Also fine?>"]
    assert d["answer_tgt"] == ["<ja:Yes.>", None, "<ja:Yes.>"]
    assert d["translate_error"] == [None, "RuntimeError: the model choked on FAIL", None]


def test_segment_off_sends_whole_lines(make_translator):
    tr = make_translator(segment=False)
    tr(batch([("ja", "Q?", "One. Two.")]))
    assert FakeBackend.instances[0].calls[0][0] == ["Q?", "One. Two."]


def test_long_sentences_are_cut_to_the_input_limit(make_translator):
    tr = make_translator(max_input_tokens=10)  # 30 characters
    tr(batch([("ja", "Q?", "word " * 20 + "end.")]))
    segs = FakeBackend.instances[0].calls[0][0]
    assert len(segs) > 2 and all(len(s) <= 30 for s in segs)


def test_per_pair_models_get_one_backend_each(make_translator):
    tr = make_translator(model_paths={"ja": "/models/en-ja", "th": "/models/en-th"})
    assert FakeBackend.instances == []  # several models: each is loaded on its pair's first row
    tr(batch([("ja", "Q?", "A."), ("th", "Q?", "A.")]))
    assert sorted(b.model_path for b in FakeBackend.instances) == ["/models/en-ja", "/models/en-th"]
    assert models.translation_model_paths("Helsinki-NLP/opus-mt-{src}-{tgt}", "en", ["ja", "th"]) == {
        "ja": "Helsinki-NLP/opus-mt-en-ja", "th": "Helsinki-NLP/opus-mt-en-th"}


def test_missing_columns_are_named(make_translator):
    with pytest.raises(ValueError, match=r"stage translate needs columns \['answer_src'"):
        make_translator()({"item_id": np.array(["a"]), "tgt_lang": np.array(["ja"]), "src_lang": np.array(["en"]),
                           "question_src": np.array(["q"]), "status": np.array(["ok"])})


# --------------------------------------------------------------------------------------------
# language codes


class FakeTokenizer:
    def __init__(self, vocab, **attrs):
        self._vocab = vocab
        self.init_kwargs = {}
        for k, v in attrs.items():
            setattr(self, k, v)

    def get_vocab(self):
        return self._vocab


class FakeMarianTokenizer(FakeTokenizer):
    pass


class FakeNllbTokenizer(FakeTokenizer):
    pass


def test_nllb_and_m2m100_codes_come_from_the_registry():
    nllb = LanguageCodes(FakeNllbTokenizer({"eng_Latn": 1, "jpn_Jpan": 2, "tha_Thai": 3}), "nllb", "/m")
    assert nllb.token("ja") == "jpn_Jpan" and nllb.src_lang_value("en") == "eng_Latn"
    with pytest.raises(UserError, match="no language token for 'km'.*khm_Khmr"):
        nllb.token("km")
    m2m = LanguageCodes(FakeTokenizer({"__en__": 1, "__ja__": 2}), "m2m100", "/m")
    assert m2m.token("ja") == "__ja__" and m2m.src_lang_value("en") == "en"
    assert m2m.check_pair("en", "ja") is None
    with pytest.raises(UserError, match="'th'"):
        m2m.check_pair("en", "th")


def test_family_detection():
    assert detect_family(FakeNllbTokenizer({})) == "nllb"
    assert detect_family(FakeMarianTokenizer({})) == "marian"
    assert detect_family(FakeTokenizer({"__en__": 1})) == "m2m100"
    assert detect_family(FakeTokenizer({"eng_Latn": 1})) == "nllb"
    assert detect_family(FakeTokenizer({}), "marian") == "marian"
    with pytest.raises(UserError, match="set translate.family"):
        detect_family(FakeTokenizer({"hello": 1}))


def test_marian_serves_only_its_pair():
    tok = FakeMarianTokenizer({}, source_lang="en", target_lang="ja")
    codes = LanguageCodes(tok, "marian", "/models/tiny")
    assert codes.check_pair("en", "ja") is None
    with pytest.raises(UserError, match=r"translates en->ja, not en->th: a Marian model serves one pair"):
        codes.check_pair("en", "th")
    # the pair from an OPUS-MT folder name, with 3-letter codes
    codes = LanguageCodes(FakeMarianTokenizer({}), "marian", "/hub/Helsinki-NLP/opus-mt-en-jap")
    assert codes.marian_pair == ("en", "ja")
    with pytest.raises(UserError, match="not en->th"):
        codes.check_pair("en", "th")
    # multi-target: the target's >>xxx<< token goes before the source
    multi = LanguageCodes(FakeMarianTokenizer({">>jpn<<": 5, ">>tha<<": 6}, source_lang="en", target_lang="mul"),
                          "marian", "/m")
    assert multi.check_pair("en", "th") == ">>tha<<"
    with pytest.raises(UserError, match="no >>xxx<< token for 'km'"):
        multi.check_pair("en", "km")


def test_to_iso():
    assert [to_iso(c) for c in ("en", "eng", "jpn", "jap", "tha", "khm", "nob", "xx", None)] == [
        "en", "en", "ja", "ja", "th", "km", "nb", None, None]


def test_m2m100_vocabulary_is_ordered_by_id_and_padded():
    tok = FakeTokenizer({"<s>": 0, "<pad>": 1, "</s>": 2, "a": 3, "b": 5}, lang_token_to_id={"__ja__": 6, "__en__": 7},
                        added_tokens_encoder={"<unk>": 4})
    assert m2m100_vocabulary(10, tok) == ["<s>", "<pad>", "</s>", "a", "<unk>", "b", "__ja__", "__en__",
                                          "madeupword0", "madeupword1"]


# --------------------------------------------------------------------------------------------
# model specs


def test_resolve_translation_model(tmp_path):
    hf = tmp_path / "opus-mt-en-ja"
    hf.mkdir()
    (hf / "config.json").write_text("{}")
    ct2 = tmp_path / "ct2"
    ct2.mkdir()
    (ct2 / "model.bin").write_bytes(b"")
    assert models.resolve_translation_model(str(hf)) == str(hf)
    assert models.resolve_translation_model(str(ct2)) == str(ct2)
    assert models.resolve_translation_model(str(tmp_path / "opus-mt-{src}-{tgt}"), "en", "ja") == str(hf)
    assert models.resolve_translation_model("facebook/nllb-200-3.3B") == "facebook/nllb-200-3.3B"  # hub id
    with pytest.raises(UserError, match="no such folder"):
        models.resolve_translation_model(str(tmp_path / "opus-mt-{src}-{tgt}"), "en", "th")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="neither a Hugging Face model"):
        models.resolve_translation_model(str(empty))
    with pytest.raises(UserError, match="is empty"):
        models.resolve_translation_model("")
    with pytest.raises(UserError, match="not a demo model"):
        models.resolve_translation_model("demo:gpt")
    with pytest.raises(UserError, match="no demo Marian model for en-km"):
        models.resolve_translation_model("demo:marian", "en", "km")
    assert (models.per_pair("demo:marian") and models.per_pair("/m/opus-mt-{src}-{tgt}")
            and not models.per_pair("demo:nllb"))
    assert os.path.isdir(str(hf))
