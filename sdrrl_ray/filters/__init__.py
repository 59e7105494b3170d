"""Translation filters: rules, language-ID, optional CometKiwi QE, and the filter stage.

lingua is imported when the first text is judged; unbabel-comet never (it runs in its own
environment, see :mod:`sdrrl_ray.filters.qe`).
"""

from sdrrl_ray.filters.langid import LanguageIdentifier
from sdrrl_ray.filters.qe import HTTPQEScorer, QEScorer, SubprocessQEScorer, build_qe_scorer, check_qe_available
from sdrrl_ray.filters.rules import Verdict, check_rules
from sdrrl_ray.filters.stage import TranslationFilter

__all__ = [
    "HTTPQEScorer",
    "LanguageIdentifier",
    "QEScorer",
    "SubprocessQEScorer",
    "TranslationFilter",
    "Verdict",
    "build_qe_scorer",
    "check_qe_available",
    "check_rules",
]
