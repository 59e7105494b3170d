"""The one prompt builder shared by generation, training and evaluation.

A model with a chat template is prompted through it (``apply_chat_template`` with
``add_generation_prompt=True``); a model without one gets the paper's layout
(paper-spec 2.7, Table 1)::

    Question: <question>
    Answer: <answer>
"""

from __future__ import annotations

from typing import Any, Optional

QUESTION_PREFIX = "Question: "
ANSWER_PREFIX = "\nAnswer: "

# BELEBELE's multiple-choice prompt: the evaluation asks it (sdrrl_ray.evaluation.belebele) and the demo's
# instruction data holds English examples of it (sdrrl_ray.demo.world)
BELEBELE_PROMPT = (
    "{flores_passage}\n"
    "Question: {question}\n"
    "A. {mc_answer1}\nB. {mc_answer2}\nC. {mc_answer3}\nD. {mc_answer4}\n"
    "Answer with the letter of the correct option.\nAnswer:"
)


def has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def messages(question: str, system_prompt: Optional[str] = None, answer: Optional[str] = None) -> list[dict]:
    out = []
    if system_prompt:
        out.append({"role": "system", "content": system_prompt})
    out.append({"role": "user", "content": question})
    if answer is not None:
        out.append({"role": "assistant", "content": answer})
    return out


def render_prompt(tokenizer: Any, question: str, system_prompt: Optional[str] = None) -> str:
    """The text the model sees before its answer."""
    if has_chat_template(tokenizer):
        return tokenizer.apply_chat_template(
            messages(question, system_prompt), tokenize=False, add_generation_prompt=True
        )
    prefix = f"{system_prompt}\n\n" if system_prompt else ""
    return f"{prefix}{QUESTION_PREFIX}{question}{ANSWER_PREFIX}".rstrip(" ")


def render_example(tokenizer: Any, question: str, answer: str, system_prompt: Optional[str] = None) -> tuple[str, str]:
    """(prompt, completion) for training: the loss covers the completion only."""
    prompt = render_prompt(tokenizer, question, system_prompt)
    if has_chat_template(tokenizer):
        full = tokenizer.apply_chat_template(
            messages(question, system_prompt, answer), tokenize=False, add_generation_prompt=False
        )
        if not full.startswith(prompt):
            raise ValueError(
                "[Internal] the chat template renders the prompt differently with and without the answer; "
                "cannot split prompt and completion"
            )
        return prompt, full[len(prompt):]
    return prompt, " " + answer + (tokenizer.eos_token or "")
