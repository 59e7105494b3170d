"""Byte-level BPE tokenizer of the demo LM, trained on the demo data with ``tokenizers``."""

from __future__ import annotations

from typing import Iterable

PAD, BOS, EOS, UNK = "<|pad|>", "<|bos|>", "<|eos|>", "<|unk|>"
SYSTEM, USER, ASSISTANT, END = "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"
SPECIAL_TOKENS = [PAD, BOS, EOS, UNK, SYSTEM, USER, ASSISTANT, END]

# One turn is <|role|>content<|end|>; the answer starts right after <|assistant|>.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for m in messages %}{{ '<|' + m['role'] + '|>' + m['content'] + '<|end|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
)


CHAR_WEIGHT = 200  # how often each non-ASCII character is shown alone to the BPE trainer


def train_tokenizer(texts: Iterable[str], vocab_size: int):
    """A ``PreTrainedTokenizerFast`` with the chat template; ``<|end|>`` (end of turn) is its eos.

    Every non-ASCII character of ``texts`` is also fed alone, ``CHAR_WEIGHT`` times, so that
    the first merges make each such character one token: a tiny model then never emits half a
    Japanese or Thai character (byte-level BPE otherwise leaves rare ones as 2-3 byte tokens).
    ``vocab_size`` is an upper bound: a small corpus runs out of merges before it.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    texts = list(texts)
    chars = sorted({c for text in texts for c in text if not c.isascii()})
    tok.train_from_iterator(texts + chars * CHAR_WEIGHT, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=END,
        pad_token=PAD,
        unk_token=UNK,
        additional_special_tokens=[EOS, SYSTEM, USER, ASSISTANT],
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast
