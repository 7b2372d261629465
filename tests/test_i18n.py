"""The page's languages: every catalogue translates every message the code writes, with the same
placeholders; the browser's Accept-Language picks the language; sentences, charts, refusals and
resources come out in it."""

from __future__ import annotations

import ast
import gettext
import re
import subprocess
import sys
import tomllib
from dataclasses import replace

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from facemood import charts
from facemood.app_settings import load_app_settings
from facemood.checkin import FaceReading
from facemood.config import REPO_ROOT
from facemood.errors import ConfigError, InvalidImage
from facemood.i18n import (
    ENGLISH,
    SOURCE_LANGUAGE,
    catalogue_languages,
    catalogue_path,
    expression_names,
    negotiate,
    preferred_languages,
    words_for,
)

TRANSLATED = [lang for lang in catalogue_languages() if lang != SOURCE_LANGUAGE]
PLACEHOLDER = re.compile(r"\{(\w+)\}")
KEYWORDS = ("_", "gettext", "ngettext", "pgettext")  # how the code marks a message
BABEL_KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2)}


def code_messages() -> dict[tuple[str | None, str], tuple[str, ...]]:
    """Every message the page's code writes: (context, id) -> the ids (singular and plural). Read
    from the syntax tree, so a call hidden where the template's extraction cannot see it (inside an
    f-string) is found too."""
    found = {}
    for path in sorted([*(REPO_ROOT / "app").rglob("*.py"), *(REPO_ROOT / "facemood").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            if name not in KEYWORDS:
                continue
            strings = node.args[:2 if name in ("ngettext", "pgettext") else 1]
            if not all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in strings):
                # only the page's own _ and ngettext pass a message on; anywhere else it must be written out
                assert path.name == "page_language.py", f"{path.name}:{node.lineno}: a message must be a plain string"
                continue
            texts = [a.value for a in strings]
            context, ids = (texts[0], tuple(texts[1:])) if name == "pgettext" else (None, tuple(texts))
            found[(context, ids[0])] = ids
    return found


def extracted_messages() -> set[tuple[str | None, str]]:
    """What `make messages` extracts into the template (Babel, as babel.cfg says)."""
    found = set()
    for folder in ("app", "facemood"):
        for _file, _line, message, _comments, context in extract_from_dir(
                REPO_ROOT / folder, method_map=[("**.py", "python")], keywords=BABEL_KEYWORDS):
            found.add((context, message[0] if isinstance(message, tuple) else message))
    return found


def catalogue(language: str):
    """The language's catalogue as Babel reads it."""
    with catalogue_path(language).open("rb") as po:
        return read_po(po, locale=language)


def test_the_page_speaks_at_least_english_spanish_and_chinese():
    assert {"en", "es", "zh"} <= set(catalogue_languages())
    assert load_app_settings().languages[0] == "en" and set(load_app_settings().languages) == {"en", "es", "zh"}
    assert len(code_messages()) > 60  # the extraction finds the page's messages (a broken one would find none)


def test_make_messages_extracts_every_message_the_code_writes():
    """A message Babel cannot see (e.g. ``_()`` inside an f-string) would never reach a catalogue."""
    assert set(code_messages()) - extracted_messages() == set()


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_catalogue_translates_every_message_with_the_same_placeholders(language):
    messages = code_messages()
    books = catalogue(language)
    plural_forms = books.num_plurals
    for (context, msgid), ids in messages.items():
        entry = books.get(msgid, context=context)
        where = f"{language}: {msgid!r}"
        assert entry is not None, f"{where} is not in the catalogue (make messages, then translate it)"
        assert not entry.fuzzy, f"{where} is marked fuzzy: check the translation, then remove the flag"
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        assert len(strings) == (plural_forms if len(ids) > 1 else 1), where
        assert all(s.strip() for s in strings), f"{where} has no translation"
        expected = set().union(*(PLACEHOLDER.findall(i) for i in ids))
        for string in strings:  # a singular form may leave out the count; none may invent a placeholder
            assert set(PLACEHOLDER.findall(string)) <= expected, f"{where}: {string!r}"
            assert string.count("**") == ids[0].count("**"), f"{where}: the bold text is lost"
        if len(ids) == 1:
            assert set(PLACEHOLDER.findall(strings[0])) == expected, f"{where}: {strings[0]!r}"
    stale = [m.id for m in books if m.id and (m.context, m.id if isinstance(m.id, str) else m.id[0]) not in messages]
    assert not stale, f"{language}: messages the code no longer writes: {stale} (make messages)"


def test_the_browsers_languages_choose_the_page_language():
    supported = ("en", "es", "zh")
    assert preferred_languages("es-MX,es;q=0.9,en;q=0.5") == ["es", "en"]
    assert negotiate("es-MX,es;q=0.9,en;q=0.5", supported) == "es"
    assert negotiate("fr-FR,fr;q=0.9,zh-CN;q=0.8,en;q=0.7", supported) == "zh"  # French first: not spoken
    assert negotiate("en;q=0.2,zh-Hans-CN", supported) == "zh"  # by quality, not by order
    assert negotiate("zh;q=0, es;q=0.1", supported) == "es"  # q=0 means "not this one"
    assert negotiate("de-DE", supported) == "en" and negotiate("", supported) == "en"
    assert negotiate("es;q=abc, *", supported) == "en"  # malformed parts are skipped, not an error


def test_a_reading_is_said_in_the_students_language():
    result = FaceReading(face=None, probabilities={"angry": 0.02, "disgust": 0.0, "fear": 0.15, "happy": 0.01,
                                                  "sad": 0.71, "surprise": 0.01, "neutral": 0.10},
                        top="sad", flagged=True)
    assert result.sentence() == "Looks mostly sad (71%), with a little fearful (15%)"
    assert result.sentence(words_for("es")) == "Sobre todo tristeza (71%), con algo de miedo (15%)"
    assert result.sentence(words_for("zh")) == "看起来主要是难过（71%），也有一点害怕（15%）"
    unclear = replace(result, clear=False)
    assert unclear.sentence(words_for("es")) == "Difícil de leer: quizá tristeza (71%) o miedo (15%)"
    bars = charts.probability_bars(result.probabilities, words=words_for("es"))
    assert [v["expression"] for v in charts.chart_data(bars)][4] == "tristeza"
    line = charts.timeline([(1_700_000_000, "happy", 0.4, False)], words=words_for("zh"))
    assert charts.chart_data(line)[0]["expression"] == "难以判断"
    assert line["layer"][0]["encoding"]["y"]["sort"][-1] == "难以判断"
    assert expression_names(ENGLISH)["disgust"] == "disgusted"


@pytest.mark.parametrize("language", TRANSLATED)
def test_each_compiled_catalogue_says_what_its_po_says(language):
    """The page reads the .mo `make messages` compiles: a .po translated or changed without compiling
    it again would never reach a student."""
    words_for.cache_clear()
    words = words_for(language)
    books = catalogue(language)
    checked = 0
    for message in books:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        shown = strings if not message.fuzzy else ids  # a fuzzy entry is compiled out: English stands
        if len(ids) == 1:
            said = words.pgettext(message.context, ids[0]) if message.context else words.gettext(ids[0])
            assert said == shown[0], f"{language}: {ids[0]!r} (make messages compiles the catalogues)"
        else:  # each plural form, as the catalogue's plural rule picks it
            for count in range(30):
                said = words.ngettext(ids[0], ids[1], count)
                expected = shown[plural_form(books, count)] if not message.fuzzy else ids[count != 1]
                assert said == expected, f"{language}: {ids[0]!r} for {count}"
        checked += 1
    assert checked == len(code_messages())


def plural_form(books, count: int) -> int:
    """The plural form ``books``' Plural-Forms header picks for ``count``."""
    return gettext.c2py(books.plural_expr)(count)


def test_a_catalogue_entry_marked_fuzzy_is_compiled_out_and_not_shown(tmp_path, monkeypatch):
    """An unchecked translation (fuzzy) falls back to English rather than reach a student."""
    from scripts.compile_catalogues import compile_catalogue

    text = catalogue_path("es").read_text(encoding="utf-8")
    marked = text.replace('msgid "Cancel"', '#, fuzzy\nmsgid "Cancel"', 1)
    folder = tmp_path / "es" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "facemood.po").write_text(marked, encoding="utf-8")
    monkeypatch.setattr("facemood.i18n.LOCALE_DIR", tmp_path)
    compile_catalogue("es")
    words_for.cache_clear()
    try:
        assert words_for("es").gettext("Cancel") == "Cancel"
        assert words_for("es").gettext("Sign in") == "Iniciar sesión"
    finally:
        words_for.cache_clear()


def test_the_page_reads_its_languages_without_babel():
    """Babel (36 MB) is a development tool: the app's install leaves it out."""
    extras = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert not [d for d in extras["app"] + extras["lambda"] + extras["cli"] + extras["local"] if d.startswith("babel")]
    code = subprocess.run([sys.executable, "-c", "import sys; sys.modules['babel'] = None\n"
                           "from facemood.i18n import words_for\nprint(words_for('zh').gettext('Sign in'))"],
                          capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    assert code.stdout.strip() == words_for("zh").gettext("Sign in") != "Sign in"


def test_resources_are_configured_per_language_and_placeholders_stay_hidden(tmp_path):
    settings = load_app_settings()
    [spanish] = settings.usable_resources("es")
    assert spanish.name.startswith("988 Línea") and spanish.url == "https://988lifeline.org/es/"
    assert "marca 2" in spanish.note and spanish.phone == "988"
    [chinese] = settings.usable_resources("zh")
    assert chinese.name.startswith("988 自杀") and chinese.url == "https://988lifeline.org"  # no url of its own
    assert settings.usable_resources("fr")[0].name == "988 Suicide & Crisis Lifeline (US)"  # English otherwise
    assert settings.emergency_in("es").startswith("Si estás en peligro") and "911" in settings.emergency_in("es")
    # a translation still holding placeholder text hides the resource, in every language
    config = tmp_path / "app.yaml"
    config.write_text((REPO_ROOT / "config" / "app.yaml").read_text().replace(
        "url: https://988lifeline.org/es/", 'url: "(fill in: la página en español)"'))
    assert load_app_settings(config).usable_resources("en") == ()
    assert any("988" in problem for problem in load_app_settings(config).problems())


def test_a_language_without_a_catalogue_is_a_clear_config_error(tmp_path):
    config = tmp_path / "app.yaml"
    config.write_text((REPO_ROOT / "config" / "app.yaml").read_text().replace("languages: [en, es, zh]",
                                                                             "languages: [en, fr]"))
    with pytest.raises(ConfigError, match="languages: fr has no catalogue in facemood/locales; the page speaks en"):
        load_app_settings(config)


def test_a_refused_upload_says_which_limit_it_broke():
    assert InvalidImage("the photo is empty", "empty").kind == "empty"
    assert InvalidImage("odd", "something new").kind == "unreadable"  # an unknown kind is said generally
