"""Turn one raw input record (Alpaca, Dolly, ShareGPT, chat messages) into a question and gold answer.

Each function returns ``(question, answer)`` or raises :class:`RecordError` with a reject reason.
"""

from __future__ import annotations

from typing import Any

# item_ids of the rows generated from a parallel corpus start with this; an input record's id may not
RESERVED_ID_PREFIX = "par:"


class RecordError(Exception):
    def __init__(self, reason: str, detail: str):
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


def _text(rec: dict, key: str, *, required: bool = True, allow_empty: bool = False) -> str:
    if key not in rec or rec[key] is None:
        if required:
            raise RecordError("missing_field", f"field '{key}' is missing")
        return ""
    value = rec[key]
    if not isinstance(value, str):
        raise RecordError("wrong_type", f"field '{key}' must be a string, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise RecordError("empty_field", f"field '{key}' is empty")
    return value


def _join(instruction: str, context: str) -> str:
    context = context.strip()
    return f"{instruction.strip()}\n\n{context}" if context else instruction.strip()


def alpaca(rec: dict) -> tuple[str, str]:
    return _join(_text(rec, "instruction"), _text(rec, "input", required=False, allow_empty=True)), _text(
        rec, "output"
    ).strip()


def dolly(rec: dict) -> tuple[str, str]:
    return _join(_text(rec, "instruction"), _text(rec, "context", required=False, allow_empty=True)), _text(
        rec, "response"
    ).strip()


_USER_ROLES = {"human", "user"}
_ASSISTANT_ROLES = {"gpt", "assistant", "bot", "model"}


def chat(rec: dict) -> tuple[str, str]:
    """ShareGPT (``conversations: [{from, value}]``) or chat messages (``messages: [{role, content}]``):
    the first user turn and the assistant turn that follows it."""
    key = "conversations" if "conversations" in rec else "messages"
    turns = rec.get(key)
    if not isinstance(turns, list):
        raise RecordError("wrong_type" if key in rec else "missing_field", f"field '{key}' must be a list of turns")
    role_key, text_key = ("from", "value") if key == "conversations" else ("role", "content")
    question = None
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise RecordError("wrong_type", f"{key}[{i}] must be an object")
        role = turn.get(role_key)
        role = role if isinstance(role, str) else None  # a list or object is no role (and not hashable)
        if question is None and role in _USER_ROLES:
            question = _text(turn, text_key)
        elif question is not None and role in _ASSISTANT_ROLES:
            return question.strip(), _text(turn, text_key).strip()
    if question is None:
        raise RecordError("missing_field", f"no user turn in '{key}'")
    raise RecordError("missing_field", f"no assistant turn after the first user turn in '{key}'")


LAYOUTS = {"alpaca": alpaca, "dolly": dolly, "sharegpt": chat}


def detect_layout(rec: Any) -> str:
    """Which layout a record follows, from its keys."""
    if not isinstance(rec, dict):
        raise RecordError("wrong_type", f"record must be a JSON object, got {type(rec).__name__}")
    if "conversations" in rec or "messages" in rec:
        return "sharegpt"
    if "response" in rec or "context" in rec:
        return "dolly"
    if "instruction" in rec or "output" in rec:
        return "alpaca"
    raise RecordError(
        "unknown_layout",
        "record has none of the known fields (instruction/output, instruction/response, conversations, messages)",
    )


def extract(rec: Any, layout: str) -> tuple[str, str]:
    if layout in ("auto", "jsonl", "parquet"):
        layout = detect_layout(rec)
    elif not isinstance(rec, dict):
        raise RecordError("wrong_type", f"record must be a JSON object, got {type(rec).__name__}")
    return LAYOUTS[layout](rec)
