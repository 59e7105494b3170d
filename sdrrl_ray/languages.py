"""Language registry: one row per language with every code the pipeline's components need.

Each component asks the registry for its own code (NLLB/FLORES-200, M2M100, lingua, MUSE file
code, ...). A component that has no code for a language returns ``None`` and the config check
(:func:`check_supported`) turns that into one clear error naming the language and the component.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

# Unicode blocks used for script identification (Khmer has no lingua model; see DESIGN "Languages").
SCRIPT_RANGES: dict[str, tuple[tuple[int, int], ...]] = {
    "Latn": ((0x0041, 0x005A), (0x0061, 0x007A), (0x00C0, 0x024F), (0x1E00, 0x1EFF)),
    "Cyrl": ((0x0400, 0x04FF), (0x0500, 0x052F)),
    "Thai": ((0x0E00, 0x0E7F),),
    "Khmr": ((0x1780, 0x17FF), (0x19E0, 0x19FF)),
    "Jpan": ((0x3040, 0x309F), (0x30A0, 0x30FF), (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0xFF66, 0xFF9F)),
    "Hang": ((0xAC00, 0xD7AF), (0x1100, 0x11FF), (0x3130, 0x318F)),
    "Hans": ((0x4E00, 0x9FFF), (0x3400, 0x4DBF)),
}


@dataclass(frozen=True)
class Language:
    iso: str  # ISO 639-1: the code used in configs and columns
    name: str  # English name, used in instruction templates ("from English to Japanese")
    nllb: str  # NLLB-200 / FLORES-200 code
    m2m100: Optional[str]  # M2M100 language token code (without the __ __)
    lingua: Optional[str]  # lingua-language-detector ``Language`` member name; None -> script-based ID
    muse: Optional[str]  # file code of the MUSE dictionaries; None -> no public MUSE dictionary
    script: str  # ISO 15924 of the main script
    spaces: bool  # words separated by spaces (False: longest-match segmentation)
    xlsum: Optional[str] = None  # XL-Sum folder name
    mkqa: Optional[str] = None  # MKQA language key
    confusable: tuple[str, ...] = ()  # ISO codes that language-ID commonly confuses with this one


_ROWS = [
    Language("en", "English", "eng_Latn", "en", "ENGLISH", "en", "Latn", True, "english", "en"),
    Language("fr", "French", "fra_Latn", "fr", "FRENCH", "fr", "Latn", True, "french", "fr", ("it", "es")),
    Language("cs", "Czech", "ces_Latn", "cs", "CZECH", "cs", "Latn", True, None, None, ("sk", "pl", "sl")),
    Language("da", "Danish", "dan_Latn", "da", "DANISH", "da", "Latn", True, None, "da", ("nb", "sv")),
    Language("uk", "Ukrainian", "ukr_Cyrl", "uk", "UKRAINIAN", "uk", "Cyrl", True, "ukrainian", None, ("ru", "bg")),
    Language("bg", "Bulgarian", "bul_Cyrl", "bg", "BULGARIAN", "bg", "Cyrl", True, None, None, ("ru", "uk", "mk")),
    Language("fi", "Finnish", "fin_Latn", "fi", "FINNISH", "fi", "Latn", True, None, "fi", ("et",)),
    Language("hu", "Hungarian", "hun_Latn", "hu", "HUNGARIAN", "hu", "Latn", True, None, "hu", ("fi",)),
    Language("nb", "Norwegian Bokmal", "nob_Latn", "no", "BOKMAL", "no", "Latn", True, None, "no", ("nn", "da", "sv")),
    Language("id", "Indonesian", "ind_Latn", "id", "INDONESIAN", "id", "Latn", True, "indonesian", None, ("ms",)),
    Language("ja", "Japanese", "jpn_Jpan", "ja", "JAPANESE", "ja", "Jpan", False, "japanese", "ja", ("zh",)),
    Language("ko", "Korean", "kor_Hang", "ko", "KOREAN", "ko", "Hang", True, "korean", "ko", ("ja",)),
    Language("pt", "Portuguese", "por_Latn", "pt", "PORTUGUESE", "pt", "Latn", True, "portuguese", "pt", ("es", "gl")),
    Language("sl", "Slovenian", "slv_Latn", "sl", "SLOVENE", "sl", "Latn", True, None, None, ("hr", "bs", "sk")),
    Language("vi", "Vietnamese", "vie_Latn", "vi", "VIETNAMESE", "vi", "Latn", True, "vietnamese", "vi"),
    Language("pl", "Polish", "pol_Latn", "pl", "POLISH", "pl", "Latn", True, None, "pl", ("cs", "sk")),
    Language("th", "Thai", "tha_Thai", "th", "THAI", "th", "Thai", False, "thai", "th", ("lo",)),
    Language("km", "Khmer", "khm_Khmr", "km", None, None, "Khmr", False, None, "km", ("th", "lo")),
    # Languages that only appear as language-ID candidates (commonly confused with the ones above).
    Language("es", "Spanish", "spa_Latn", "es", "SPANISH", "es", "Latn", True, "spanish", "es", ("pt",)),
    Language("it", "Italian", "ita_Latn", "it", "ITALIAN", "it", "Latn", True, None, "it"),
    Language("de", "German", "deu_Latn", "de", "GERMAN", "de", "Latn", True, None, "de", ("nl",)),
    Language("ru", "Russian", "rus_Cyrl", "ru", "RUSSIAN", "ru", "Cyrl", True, "russian", "ru", ("uk", "bg")),
    Language("zh", "Chinese", "zho_Hans", "zh", "CHINESE", "zh", "Hans", False, "chinese_simplified", "zh_cn", ("ja",)),
    Language("sk", "Slovak", "slk_Latn", "sk", "SLOVAK", "sk", "Latn", True, None, None, ("cs",)),
    Language("sv", "Swedish", "swe_Latn", "sv", "SWEDISH", "sv", "Latn", True, None, "sv", ("da", "nb")),
    Language("nn", "Norwegian Nynorsk", "nno_Latn", None, "NYNORSK", None, "Latn", True, None, None, ("nb",)),
    Language("et", "Estonian", "est_Latn", "et", "ESTONIAN", "et", "Latn", True, None, None, ("fi",)),
    Language("ms", "Malay", "zsm_Latn", "ms", "MALAY", "ms", "Latn", True, None, "ms", ("id",)),
    Language("hr", "Croatian", "hrv_Latn", "hr", "CROATIAN", "hr", "Latn", True, None, None, ("bs", "sl")),
    Language("bs", "Bosnian", "bos_Latn", "bs", "BOSNIAN", "bs", "Latn", True, None, None, ("hr",)),
    Language("mk", "Macedonian", "mkd_Cyrl", "mk", "MACEDONIAN", "mk", "Cyrl", True, None, None, ("bg",)),
    Language("gl", "Galician", "glg_Latn", "gl", None, None, "Latn", True, None, None, ("pt",)),
    Language("nl", "Dutch", "nld_Latn", "nl", "DUTCH", "nl", "Latn", True, None, "nl"),
    Language("lo", "Lao", "lao_Laoo", "lo", None, None, "Laoo", False, None, None, ("th",)),
]

REGISTRY: dict[str, Language] = {lang.iso: lang for lang in _ROWS}

# The paper's 16 target languages (paper-spec section 3) and the two supported sources.
PAPER_TARGETS = ("cs", "da", "uk", "bg", "fi", "hu", "nb", "id", "ja", "ko", "pt", "sl", "vi", "pl", "th", "km")
SOURCES = ("en", "fr")
# Languages a user can name in ``languages.source`` / ``languages.targets``.
PIPELINE_LANGUAGES = SOURCES + PAPER_TARGETS


class UnsupportedLanguage(ValueError):
    """A configured language that a configured component cannot serve."""


def get(iso: str) -> Language:
    """Return the registry row for an ISO 639-1 code, or raise naming the known codes."""
    try:
        return REGISTRY[iso]
    except KeyError:
        known = ", ".join(PIPELINE_LANGUAGES)
        raise UnsupportedLanguage(
            f"unknown language '{iso}': the registry (sdrrl_ray/languages.py) knows {known}"
        ) from None


def name_of(iso: str) -> str:
    """The language's English name for cards and reports; the code itself when the registry lacks it."""
    try:
        return get(iso).name
    except ValueError:
        return iso


def script_share(text: str, script: str) -> float:
    """Share of the letters of ``text`` that fall in ``script``'s Unicode blocks (0.0 for no letters)."""
    ranges = SCRIPT_RANGES[script]
    letters = [ord(c) for c in text if c.isalpha()]
    if not letters:
        return 0.0
    hits = sum(1 for cp in letters if any(lo <= cp <= hi for lo, hi in ranges))
    return hits / len(letters)


def langid_candidates(languages: list[str]) -> list[str]:
    """Languages a detector must know to judge ``languages``: themselves plus the commonly confused ones.

    Always more than the two languages of one pair, so that an output in a third language is not
    forced onto either of them.
    """
    out: list[str] = []
    for iso in languages:
        for cand in (iso, *get(iso).confusable):
            if cand not in out and cand in REGISTRY:
                out.append(cand)
    for extra in ("en", "es", "de"):  # widely present languages, so a pair is never alone
        if len(out) >= 4:
            break
        if extra not in out:
            out.append(extra)
    return out


# Which code each component needs; a None there means the component cannot serve the language.
COMPONENT_CODES = {
    "translate:nllb": lambda lang: lang.nllb,
    "translate:m2m100": lambda lang: lang.m2m100,
    "translate:marian": lambda lang: lang.iso,  # a Marian model serves one pair, checked at load
    "translate:llm": lambda lang: lang.name,
    "eval:xlsum": lambda lang: lang.xlsum,
    "eval:mkqa": lambda lang: lang.mkqa,
    "eval:belebele": lambda lang: lang.nllb,
    "eval:flores": lambda lang: lang.nllb,
    "eval:ner": lambda lang: lang.iso,
    "eval:offtarget": lambda lang: lang.iso,
    "eval:alignment": lambda lang: lang.iso,
}


def check_supported(iso: str, component: str) -> None:
    """Raise :class:`UnsupportedLanguage` when ``component`` has no code for ``iso``."""
    lang = get(iso)
    code = COMPONENT_CODES[component](lang)
    if code is None:
        raise UnsupportedLanguage(
            f"language '{iso}' ({lang.name}) is not supported by {component}; "
            f"remove it from languages.targets or choose another {component.split(':')[0]} setting"
        )
