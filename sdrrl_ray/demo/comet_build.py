# (no module named "comet" may live beside this script: it is run by path, and would shadow the package)
"""Write a tiny random-init COMET checkpoint in unbabel-comet's own format, offline.

Run with the python of the COMET environment (it imports nothing from ``sdrrl_ray``; unbabel-comet
cannot share the main environment)::

    /opt/comet/bin/python comet_build.py --kind da   --out DIR --texts corpus.txt [more.txt ...]
    /opt/comet/bin/python comet_build.py --kind kiwi --out DIR --texts corpus.txt

``DIR`` then holds what ``comet.load_from_checkpoint`` reads for a released model:
``hparams.yaml`` (``class_identifier`` and the model's settings), ``checkpoints/model.ckpt`` (a
Lightning checkpoint: state dict, hyperparameters, Lightning version) and ``encoder/``, an
XLM-RoBERTa-style encoder folder (config + fast tokenizer trained here with ``tokenizers``) that
``pretrained_model`` points at, as ``xlm-roberta-large`` is for the released models.

- ``da``: ``RegressionMetric`` with (src, mt, ref) inputs, the architecture of ``Unbabel/wmt22-comet-da``;
- ``kiwi``: ``UnifiedMetric`` with (mt, src) inputs, the architecture of ``Unbabel/wmt22-cometkiwi-da``.

Sizes are tiny (2 layers of width 32) and the weights random (seeded): the scores mean nothing; the
checkpoint exists so the real COMET loading and scoring code runs where no hub can be reached.
"""

from __future__ import annotations

import argparse
import os
import sys

ENCODER = "encoder"
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # XLM-R's ids 0..3, then <mask>

# the released models' hparams.yaml, with tiny sizes
COMMON = dict(nr_frozen_epochs=0.3, keep_embeddings_frozen=True, optimizer="AdamW", warmup_steps=0,
              encoder_learning_rate=1.0e-06, learning_rate=1.5e-05, layerwise_decay=0.95,
              encoder_model="XLM-RoBERTa", layer_transformation="sparsemax", dropout=0.1, batch_size=4,
              train_data=[], validation_data=[], hidden_sizes=[64, 32], activations="Tanh", loss="mse",
              load_pretrained_weights=False)
KINDS = {
    "da": ("regression_metric", dict(pool="avg", layer="mix", layer_norm=False, final_activation=None)),
    "kiwi": ("unified_metric", dict(sent_layer="mix", layer_norm=True, word_layer=2, final_activation=None,
                                     input_segments=["mt", "src"], word_level_training=False, loss_lambda=0.65,
                                     error_labels=["minor", "major"], cross_entropy_weights=None)),
}


def build_encoder(folder: str, texts: list[str], vocab_size: int = 2000) -> None:
    """An XLM-R-style encoder folder: config.json and a fast tokenizer trained on ``texts``."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import XLMRobertaConfig, XLMRobertaTokenizerFast

    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, unk_token="<unk>",
                                      shrinking_factor=0.75)
    tok.train_from_iterator(texts, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", tok.token_to_id("<s>")), ("</s>", tok.token_to_id("</s>"))])
    fast = XLMRobertaTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", sep_token="</s>",
                                   cls_token="<s>", unk_token="<unk>", pad_token="<pad>", mask_token="<mask>",
                                   model_max_length=512)
    fast.save_pretrained(folder)
    config = XLMRobertaConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2,
                              num_attention_heads=2, intermediate_size=64, max_position_embeddings=514,
                              type_vocab_size=1, pad_token_id=tok.token_to_id("<pad>"),
                              bos_token_id=tok.token_to_id("<s>"), eos_token_id=tok.token_to_id("</s>"))
    config.save_pretrained(folder)


def build(out: str, kind: str, texts: list[str], seed: int = 0, final: str = "") -> str:
    """Write the checkpoint folder ``out``; return the checkpoint file. ``final``: where the folder will
    live once moved into place (``hparams.yaml`` names the encoder there); default ``out``."""
    import pytorch_lightning as pl
    import torch
    import yaml
    from comet.models import str2model

    identifier, extra = KINDS[kind]
    os.makedirs(os.path.join(out, "checkpoints"), exist_ok=True)
    build_encoder(os.path.join(out, ENCODER), texts)
    torch.manual_seed(seed)
    model = str2model[identifier](**dict(COMMON, **extra, pretrained_model=os.path.abspath(os.path.join(out, ENCODER))))
    # what loading reads: the encoder at the folder's final place
    hparams = dict(COMMON, **extra, pretrained_model=os.path.abspath(os.path.join(final or out, ENCODER)))
    ckpt = os.path.join(out, "checkpoints", "model.ckpt")
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": hparams,
                "pytorch-lightning_version": pl.__version__, "epoch": 0, "global_step": 0}, ckpt)
    with open(os.path.join(out, "hparams.yaml"), "w", encoding="utf-8") as f:
        yaml.safe_dump(dict(hparams, class_identifier=identifier), f, sort_keys=True)
    return ckpt


def read_texts(paths: list[str]) -> list[str]:
    out = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                out += [cell.strip() for cell in line.split("\t") if cell.strip()]
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", choices=sorted(KINDS), required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--texts", nargs="+", required=True, help="text files (TSV cells count as texts)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--final", default="", help="the folder's final place, when --out is a temporary one")
    args = parser.parse_args(argv)
    print(build(args.out, args.kind, read_texts(args.texts), seed=args.seed, final=args.final), file=sys.stdout)


if __name__ == "__main__":
    main()
