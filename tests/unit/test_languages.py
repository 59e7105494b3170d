import pytest

from sdrrl_ray import languages as L


def test_registry_covers_paper_targets_and_sources():
    assert len(L.PAPER_TARGETS) == 16
    for iso in L.PAPER_TARGETS + L.SOURCES:
        lang = L.get(iso)
        assert lang.nllb and lang.script and lang.name


def test_codes_match_the_paper_table():
    assert L.get("ja").nllb == "jpn_Jpan"
    assert L.get("nb").nllb == "nob_Latn" and L.get("nb").muse == "no" and L.get("nb").m2m100 == "no"
    assert L.get("km").nllb == "khm_Khmr" and L.get("km").lingua is None and L.get("km").muse is None
    assert L.get("th").spaces is False and L.get("ja").spaces is False and L.get("ko").spaces is True


def test_lingua_names_exist():
    import lingua

    names = {lang.name for lang in lingua.Language.all()}
    for lang in L.REGISTRY.values():
        if lang.lingua:
            assert lang.lingua in names, lang.iso


def test_langid_candidates_are_more_than_the_pair():
    cands = L.langid_candidates(["en", "ja"])
    assert {"en", "ja"} <= set(cands) and len(cands) > 2
    assert "zh" in cands  # commonly confused with Japanese
    assert len(L.langid_candidates(["en", "th"])) > 2


def test_script_share():
    assert L.script_share("ภาษาไทย", "Thai") == 1.0
    assert L.script_share("ភាសាខ្មែរ", "Khmr") > 0.9
    assert L.script_share("hello ภาษา", "Thai") == pytest.approx(4 / 9)
    assert L.script_share("123 !", "Latn") == 0.0


def test_unknown_and_unsupported():
    with pytest.raises(L.UnsupportedLanguage, match="unknown language 'xx'"):
        L.get("xx")
    with pytest.raises(L.UnsupportedLanguage, match="'cs'.*eval:mkqa"):
        L.check_supported("cs", "eval:mkqa")
    L.check_supported("km", "translate:nllb")
