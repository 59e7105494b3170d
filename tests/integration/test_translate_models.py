"""Real tiny translation models through every backend (no fakes).

The demo models (:mod:`sdrrl_ray.demo.mt`) are built on first use (one to two minutes each on one
core) and cached under $SDRRL_CACHE; they are measured on sentence pairs held out of their
training. A random tiny M2M100 covers the M2M100 conversion fix and its ``__xx__`` codes.
"""

import json
import os
import shutil

import numpy as np
import pytest

from sdrrl_ray.assets import translation_model_paths
from sdrrl_ray.demo.mt import demo_marian_path, demo_nllb_path, heldout_pairs
from sdrrl_ray.errors import UserError
from sdrrl_ray.languages import get, script_share
from sdrrl_ray.mt.backends import BackendOptions, CT2Backend, HFBackend, build_backend
from sdrrl_ray.mt.codes import check_translation_models
from sdrrl_ray.mt.convert import converted_folder
from sdrrl_ray.stages.filter import TranslationFilter
from sdrrl_ray.stages.translate import Translator

pytestmark = pytest.mark.timeout(900)
FAST = dict(max_decoding_length=48, num_threads=1)


@pytest.fixture(scope="module")
def nllb() -> str:
    return demo_nllb_path()


@pytest.fixture(scope="module")
def marian_ja() -> str:
    return demo_marian_path("en", "ja")


def sources(lang: str, n: int = 20) -> list[str]:
    return [en for en, _ in heldout_pairs(lang)][:n]


def script_rate(outputs: list[str], lang: str) -> float:
    return sum(script_share(o, get(lang).script) >= 0.5 for o in outputs) / len(outputs)


@pytest.mark.parametrize("backend", ["ct2", "hf"])
def test_nllb_style_model_translates_into_the_target_script(nllb, backend):
    b = build_backend(backend, nllb, BackendOptions(beam_size=4, **FAST))
    assert b.family == "nllb"
    assert b.compute_type == ("int8" if backend == "ct2" else "float32")  # CPU defaults
    for tgt in ("ja", "th"):
        src = sources(tgt)
        out = b.translate_batch(src, "en", tgt)
        assert len(out) == len(src) == 20
        assert script_rate(out, tgt) >= 0.9, out
        assert not any(code in o for o in out for code in ("jpn_Jpan", "tha_Thai", "</s>"))


@pytest.mark.parametrize("backend", ["ct2", "hf"])
def test_marian_model_translates_into_the_target_script(marian_ja, backend):
    b = build_backend(backend, marian_ja, BackendOptions(beam_size=4, **FAST))
    assert b.family == "marian"
    out = b.translate_batch(sources("ja"), "en", "ja")
    assert script_rate(out, "ja") >= 0.9, out
    with pytest.raises(UserError, match="translates en->ja, not en->th"):
        b.translate_batch(["Hello."], "en", "th")


def test_ct2_and_hf_agree_at_the_same_precision(nllb):
    ct2 = CT2Backend(nllb, BackendOptions(compute_type="float32", beam_size=1, **FAST))
    hf = HFBackend(nllb, BackendOptions(compute_type="float32", beam_size=1, **FAST))
    same = total = 0
    for tgt in ("ja", "th"):
        src = sources(tgt)
        a, b = ct2.translate_batch(src, "en", tgt), hf.translate_batch(src, "en", tgt)
        same += sum(x == y for x, y in zip(a, b))
        total += len(src)
    assert same / total >= 0.9


def test_conversion_is_cached_per_quantization(nllb, tmp_path, monkeypatch):
    model = tmp_path / "my-nllb"
    shutil.copytree(nllb, model)
    monkeypatch.setenv("SDRRL_CACHE", str(tmp_path / "cache"))
    int8 = converted_folder(str(model), "int8")
    assert int8.startswith(str(tmp_path / "cache" / "ct2")) and os.path.isfile(os.path.join(int8, "model.bin"))
    stamp = os.path.getmtime(os.path.join(int8, "model.bin"))
    assert converted_folder(str(model), "int8") == int8  # reused
    assert os.path.getmtime(os.path.join(int8, "model.bin")) == stamp
    f32 = converted_folder(str(model), "float32")
    assert f32 != int8 and (os.path.getsize(os.path.join(f32, "model.bin"))
                            > os.path.getsize(os.path.join(int8, "model.bin")))
    # without SDRRL_CACHE the converted folder sits next to the source
    monkeypatch.delenv("SDRRL_CACHE")
    beside = converted_folder(str(model), "int8")
    assert os.path.dirname(beside) == str(tmp_path) and os.path.basename(beside).startswith("my-nllb.ct2-int8-")
    # an already converted folder (model.bin + tokenizer) loads as it is
    direct = CT2Backend(int8, BackendOptions(beam_size=2, **FAST))
    via_hf = CT2Backend(str(model), BackendOptions(beam_size=2, **FAST))
    assert direct.ct2_path == int8 and direct.family == "nllb"
    src = sources("ja", 5)
    assert direct.translate_batch(src, "en", "ja") == via_hf.translate_batch(src, "en", "ja")


def _tiny_m2m100(folder) -> str:
    import sentencepiece as spm
    import torch
    from transformers import M2M100Config, M2M100ForConditionalGeneration, M2M100Tokenizer

    from sdrrl_ray.demo.assets import read_parallel

    os.makedirs(folder, exist_ok=True)
    lines = [side for lang in ("ja", "th") for pair in read_parallel(lang) for side in pair]
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_prefix=os.path.join(folder, "sentencepiece.bpe"), vocab_size=600,
        hard_vocab_limit=False, model_type="unigram", character_coverage=1.0, minloglevel=2, num_threads=1,
    )
    proc = spm.SentencePieceProcessor(model_file=os.path.join(folder, "sentencepiece.bpe.model"))
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for i in range(proc.get_piece_size()):
        vocab.setdefault(proc.id_to_piece(i), len(vocab))
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    tok = M2M100Tokenizer(os.path.join(folder, "vocab.json"), os.path.join(folder, "sentencepiece.bpe.model"),
                          src_lang="en")
    n_vocab = max(tok.lang_token_to_id.values()) + 1 + 8  # language codes, then madeup words (as M2M100)
    torch.manual_seed(0)
    model = M2M100ForConditionalGeneration(M2M100Config(
        vocab_size=n_vocab, d_model=64, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=128, decoder_ffn_dim=128, max_position_embeddings=128,
        pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2,
    ))
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


def test_m2m100_converts_under_transformers_5_and_uses_its_codes(tmp_path, monkeypatch):
    monkeypatch.setenv("SDRRL_CACHE", str(tmp_path / "cache"))
    folder = _tiny_m2m100(tmp_path / "tiny-m2m100")
    ct2 = CT2Backend(folder, BackendOptions(compute_type="float32", beam_size=1, max_decoding_length=8, num_threads=1))
    assert ct2.family == "m2m100"
    with open(os.path.join(ct2.ct2_path, "shared_vocabulary.json"), encoding="utf-8") as f:
        vocab = json.load(f)
    with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
        assert len(vocab) == json.load(f)["vocab_size"]  # the fix: language codes and madeup words included
    assert vocab.index("__th__") == ct2.tokenizer.convert_tokens_to_ids("__th__")
    src = ["Fish live in water.", "The ant is running.", "My aunt is a doctor.", "I have five bags."]
    ct2.tokenizer.src_lang = "en"
    tokens = [ct2.tokenizer.convert_ids_to_tokens(ct2.tokenizer(s)["input_ids"]) for s in src]
    assert tokens[0][0] == "__en__"
    raw = ct2.translator.translate_batch(tokens, target_prefix=[["__th__"]] * 4, beam_size=1, max_decoding_length=8)
    assert all(r.hypotheses[0][0] == "__th__" for r in raw)
    hf = HFBackend(folder, BackendOptions(beam_size=1, max_decoding_length=8, num_threads=1))
    a, b = ct2.translate_batch(src, "en", "th"), hf.translate_batch(src, "en", "th")
    assert sum(x == y for x, y in zip(a, b)) >= 3, (a, b)
    with pytest.raises(UserError, match="no language token for 'nn'"):  # not one of M2M100's 100
        ct2.translate_batch(["Hi."], "en", "nn")


ANSWER = """Fish live in water. The ant is running.

1. My aunt is a doctor.
2. I have five bags.

```python
print("not translated. ever.")
```
See https://example.com/fish for more."""


def _rows(targets):
    n = len(targets)
    return {
        "item_id": np.array([f"i{k}" for k in range(n)], dtype=object),
        "src_lang": np.array(["en"] * n, dtype=object),
        "tgt_lang": np.array(targets, dtype=object),
        "question_src": np.array(["What color is the sky?"] * n, dtype=object),
        "answer_src": np.array([ANSWER] * n, dtype=object),
        "status": np.array(["ok"] * n, dtype=object),
    }


def test_translator_stage_on_demo_nllb_keeps_structure(nllb):
    tr = Translator(backend="ct2", model_paths=translation_model_paths("demo:nllb", "en", ["ja", "th"]),
                    options=BackendOptions(beam_size=4, max_decoding_length=48, num_threads=1))
    d = tr(_rows(["ja", "th", "ja"])).to_pydict()
    assert d["translate_error"] == [None, None, None]
    for lang, answer, question in zip(d["tgt_lang"], d["answer_tgt"], d["question_tgt"]):
        assert script_share(question, get(lang).script) >= 0.5
        assert '```python\nprint("not translated. ever.")\n```' in answer
        assert "https://example.com/fish" in answer
        lines = answer.split("\n")
        assert lines[1] == "" and lines[2].startswith("1. ") and lines[3].startswith("2. ")
        assert script_share(lines[2], get(lang).script) >= 0.5
    assert d["answer_tgt"][0] == d["answer_tgt"][2]
    filt = TranslationFilter(languages=["en", "ja", "th"])
    f = filt(dict(_rows(["ja", "th"]), question_tgt=np.array(d["question_tgt"][:2], dtype=object),
                  answer_tgt=np.array(d["answer_tgt"][:2], dtype=object))).to_pydict()
    assert f["question_ok"] == [True, True], f["question_detail"]


def check_translation_model(spec: str, src: str, targets: list) -> None:
    check_translation_models(translation_model_paths(spec, src, targets), src)


def test_startup_check_of_the_translation_model(nllb, marian_ja):
    from sdrrl_ray.config import load_config
    from sdrrl_ray.transfer.run import translation_models

    check_translation_model("demo:nllb", "en", ["ja", "th", "km"])
    check_translation_model(marian_ja, "en", ["ja"])
    with pytest.raises(UserError, match="not en->th"):
        check_translation_model(marian_ja, "en", ["ja", "th"])
    llm = load_config(None, ["translate.backend=llm", "translate.model=anything", "languages.targets=[ja]"])
    assert translation_models(llm, "/the/generator") == {"ja": "/the/generator"}  # the llm backend loads nothing


def test_translator_stage_resolves_demo_marian_per_pair(marian_ja):
    tr = Translator(backend="hf", model_paths=translation_model_paths("demo:marian", "en", ["ja"]),
                    options=BackendOptions(beam_size=2, max_decoding_length=48, num_threads=1))
    d = tr(_rows(["ja"])).to_pydict()
    assert script_share(d["question_tgt"][0], "Jpan") >= 0.5
    assert list(tr.backends) == [marian_ja]


def test_llm_backend_prompts_the_generation_engine(demo_model):
    from sdrrl_ray.engines.base import SamplingSettings

    tr = Translator(backend="llm", model_paths={"ja": demo_model},
                    options=BackendOptions(engine="hf", max_decoding_length=16))
    (backend,) = tr.backends.values()
    prompt = backend.prompt("Fish live in water.", "en", "ja")
    assert "Translate the following text from English to Japanese.\nFish live in water." in prompt
    d = tr(_rows(["ja"])).to_pydict()
    direct = backend.engine.generate([backend.prompt("What color is the sky?", "en", "ja")],
                                     SamplingSettings(max_new_tokens=16))
    assert d["question_tgt"][0] == direct[0].text.strip()  # greedy: the same text
    assert d["translate_error"] == [None]


@pytest.mark.timeout(600)
def test_stages_in_ray_data_actor_pools(ray_local, nllb):
    import ray

    rows = [dict(item_id=f"i{k}", src_lang="en", tgt_lang=("ja", "th")[k % 2], question_src=q, answer_src=a,
                 status="ok" if k != 3 else "rejected", subset="TT")
            for k, (q, a) in enumerate([(en, en) for en in sources("ja", 6)])]
    ds = ray.data.from_items(rows).map_batches(
        Translator,
        fn_constructor_kwargs=dict(backend="ct2", model_paths=translation_model_paths("demo:nllb", "en", ["ja", "th"]),
                                   options=BackendOptions(beam_size=2, max_decoding_length=32, num_threads=1)),
        compute=ray.data.ActorPoolStrategy(size=1), batch_size=4, batch_format="numpy", num_cpus=1,
    ).map_batches(
        TranslationFilter,
        fn_constructor_kwargs=dict(languages=["en", "ja", "th"]),
        compute=ray.data.ActorPoolStrategy(size=1), batch_size=4, batch_format="numpy", num_cpus=1,
    )
    out = sorted(ds.take_all(), key=lambda r: r["item_id"])
    assert [r["item_id"] for r in out] == [f"i{k}" for k in range(6)]
    assert out[3]["question_tgt"] is None and out[3]["question_ok"] is None
    for r in out[:3] + out[4:]:
        assert r["subset"] == "TT" and r["translate_error"] is None
        assert script_share(r["question_tgt"], get(r["tgt_lang"]).script) >= 0.5
    assert sum(bool(r["question_ok"]) for r in out) >= 4
