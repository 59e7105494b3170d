"""The model card (:mod:`sdrrl_ray.train.card`) from a hand-made train summary, transfer-set manifest and
evaluation report: YAML front matter that parses, and the sections a reader needs."""

from __future__ import annotations

import json

import yaml

from sdrrl_ray.train.card import LICENCE, card_text, update_cards, write_card

SUMMARY = dict(
    target="ja", targets=["ja"], fingerprint="abc123", run="sdrrl-train-ja-abc123", model_dir="/o/model",
    base_model="meta-llama/Llama-2-7b-hf", heldout=dict(rows=7),
    tokenize=dict(trimmed=1, rejected=2, max_length=512),
    train=dict(subsets={"LL": 40, "TL": 30}, weights={"LL": 0.875, "TL": 1.1667}, loss_weighting="eq6",
               global_batch=8),
    result=dict(steps=30, epochs_run=3, stopped_early=True, best_epoch=1, best_heldout_loss=0.5, exported_epoch=1,
                world_size=2, precision="bf16"),
)
MANIFEST = dict(
    rows_written=90, subsets={"LL": 45, "TL": 35, "mt": 10},
    licences=["instructions: CC BY-NC 4.0 (Alpaca)", "translations: the translation model's licence"],
    config=dict(seed=3, languages=dict(source="en", targets=["ja"]), data=dict(path="data/alpaca.json"),
                parallel=dict(paths={"ja": "data/tatoeba-ja.tsv"})),
)
TRAIN = dict(epochs=4, learning_rate=2e-5, lr_schedule="cosine", warmup_ratio=0.03, micro_batch_size=2,
             grad_accum=2, num_workers=2, zero_stage=3, precision="auto", loss_weighting="eq6", export_dtype="auto")


def front_matter(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def test_card_front_matter_and_sections():
    text = card_text(SUMMARY, MANIFEST, TRAIN)
    meta = front_matter(text)
    assert meta["base_model"] == "meta-llama/Llama-2-7b-hf"
    assert meta["language"] == ["en", "ja"]
    assert meta["license"] == "other" and meta["license_details"] == LICENCE
    assert "sdrrl" in meta["tags"]
    assert meta["datasets"] == ["data/alpaca.json", "data/tatoeba-ja.tsv"]
    for section in ("## Base model", "## Transfer set", "## Training", "## Evaluation", "## Licence"):
        assert section in text, section
    assert "| LL | 45 | 40 | 0.875 |" in text and "| mt | 10 | 0 | - |" in text
    assert "epochs run: 3 of 4 (stopped early); best epoch: 2" in text
    assert "learning rate 2e-05" in text and "global 8 = micro 2 x accumulation 2 x 2 workers" in text
    assert "ZeRO stage 3, precision bf16" in text and "loss weighting: eq6" in text
    assert "Not evaluated yet" in text
    assert "CC BY-NC 4.0 (Alpaca)" in text and "data/tatoeba-ja.tsv" in text
    assert "after epoch 2" in card_text(SUMMARY, MANIFEST, TRAIN, epoch=2)


def test_card_is_updated_with_the_evaluation(tmp_path):
    out = tmp_path / "out"
    model = out / "model"
    model.mkdir(parents=True)
    summary = dict(SUMMARY, model_dir=str(model))
    (model / "train_summary.json").write_text(json.dumps(summary))
    (out / "manifest.json").write_text(json.dumps(MANIFEST))
    (out / "train_manifest.json").write_text(json.dumps(dict(model_dirs={"ja": str(model)}, config=TRAIN)))
    card = write_card(str(model), summary=summary, out_dir=str(out), train_config=TRAIN)
    assert "Not evaluated yet" in open(card).read()

    report = dict(created="2026-12-06", baseline="base",
                  models=[dict(name="base", target=None, path="/m"), dict(name="sdrrl", target="ja", path=str(model))],
                  tables=[dict(title="MKQA F1, target language", rows=[
                      dict(model="base", values={"ja": 2.2}, avg=2.2, n={"ja": 500}),
                      dict(model="sdrrl", values={"ja": 6.36}, avg=6.36, n={"ja": 500})])])
    (out / "report.json").write_text(json.dumps(report))
    assert update_cards(str(out)) == [card]
    text = open(card).read()
    assert "| MKQA F1, target language | 6.36 | 2.20 | 500 |" in text and "Not evaluated yet" not in text
    front_matter(text)
