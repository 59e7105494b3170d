"""The arms ``sdrrl compare`` can run: each is the user's config with the settings that define one of
the paper's methods (its four baselines, paper-spec sections 2.2 and 8; the Table 6 ablations) set over
it. The one table of them; the files under ``jobs/configs/presets/`` spell the same settings out for the
demo (a unit test checks they agree).
"""

from __future__ import annotations

from dataclasses import dataclass

from sdrrl_ray.errors import ConfigError
from sdrrl_ray.schema import COMP, LL, LT, MT, PARALLEL_TASKS, SUBSETS, TL, TT, VARIANTS

_SDRRL = {
    "answer": {"mode": "mixed"},
    "code_switch": {"enabled": True},
    "parallel": {"enabled": True},
    "transfer": {"subsets": list(SUBSETS)},
    "train": {"loss_weighting": "eq6"},
}
_NO_EXTRAS = {"answer": {"mode": "gold"}, "code_switch": {"enabled": False}, "parallel": {"enabled": False},
              "train": {"loss_weighting": "mean"}}


def _over(base: dict, **sections: dict) -> dict:
    out = {k: dict(v) for k, v in base.items()}
    for key, value in sections.items():
        out.setdefault(key, {}).update(value)
    return out


# name -> (what it is, the config sections it sets)
ARMS: dict[str, tuple[str, dict]] = {
    "sft-en": ("English-only SFT on the gold answers (paper baseline SFT)",
               _over(_NO_EXTRAS, transfer={"subsets": [LL]})),
    "translate-then-sft": ("gold Q/A translated into the target, TT only (paper baseline T-SFT)",
                           _over(_NO_EXTRAS, transfer={"subsets": [TT]})),
    # CIT and XCOT from this project's stages; what each leaves out of its paper: jobs/configs/presets/{cit,xcot}.yaml
    "cit": ("cross-lingual instructions: English question, gold answer in the target, LT only "
            "(paper baseline CIT, Li et al. 2023a)",
            _over(_NO_EXTRAS, transfer={"subsets": [LT]})),
    "xcot": ("code-switched questions, LL + TT plus TL (target question, English answer), gold "
             "(paper baseline XCOT, Chai et al. 2024)",
             _over(_NO_EXTRAS, code_switch={"enabled": True}, transfer={"subsets": [LL, TL, TT]})),
    "sdrrl": ("SDRRL, the full method (Table 6 row 1)", _SDRRL),
    "ablation-no-tl-lt": ("- D_TL and D_LT (Table 6 row 2)",
                          _over(_SDRRL, transfer={"subsets": [LL, TT, MT, COMP]})),
    "ablation-gold-only": ("- D_synth + D: gold answers only (Table 6 row 3)", _over(_SDRRL, answer={"mode": "gold"})),
    "ablation-no-parallel": ("- D_mt and D_comp (Table 6 row 4)",
                             _over(_SDRRL, parallel={"enabled": False},
                                   transfer={"subsets": list(VARIANTS)})),
    "ablation-no-codeswitch": ("- code-switching (Table 6 row 5)", _over(_SDRRL, code_switch={"enabled": False})),
    "ablation-only-parallel": ("parallel-corpus tasks only (Table 6 row 6)",
                               _over(_SDRRL, answer={"mode": "gold"}, code_switch={"enabled": False},
                                     transfer={"subsets": list(PARALLEL_TASKS)})),
}
PAPER_ARMS = ("sft-en", "translate-then-sft", "sdrrl")  # compare's default arms
BASELINES = ("sft-en", "translate-then-sft", "cit", "xcot")  # the paper's four baselines (paper-spec section 8)
ABLATIONS = tuple(a for a in ARMS if a.startswith("ablation-"))


def arm_settings(name: str) -> dict:
    """The config sections arm ``name`` sets (a fresh copy)."""
    return {k: dict(v) for k, v in ARMS[name][1].items()}


@dataclass(frozen=True)
class CompareConfig:
    arms: tuple[str, ...] = PAPER_ARMS  # names from ARMS, run in this order
    seeds: tuple[int, ...] = (0,)  # each arm runs once per seed (answer sampling, code-switching, training)
    reference: str = "sdrrl"  # the arm every other one is tested against

    def __post_init__(self):
        problems = []
        unknown = [a for a in self.arms if a not in ARMS]
        if unknown:
            problems.append(f"compare.arms has unknown {unknown}; choose from {list(ARMS)}")
        if not self.arms or len(set(self.arms)) != len(self.arms):
            problems.append(f"compare.arms={list(self.arms)} must name each arm once, at least one "
                            "(example: arms=[sft-en,sdrrl])")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or any(int(s) < 0 for s in self.seeds):
            problems.append(f"compare.seeds={list(self.seeds)} must list distinct seeds >= 0 (example: seeds=[0,1,2])")
        if self.reference not in self.arms and not unknown:
            problems.append(f"compare.reference={self.reference!r} is not one of the arms {list(self.arms)}")
        if problems:
            raise ConfigError(problems)
