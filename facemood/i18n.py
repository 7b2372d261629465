"""The page's languages: gettext catalogues (``facemood/locales/<language>/LC_MESSAGES/facemood.po``,
compiled beside it into ``facemood.mo``, which the page reads with Python's own gettext), the choice
from a browser's ``Accept-Language`` header, and the names of the expressions in each language.

Every string a student sees is an English message id wrapped in ``gettext``/``ngettext``/
``pgettext`` where it is written; ``make messages`` extracts them into ``facemood.pot``, merges
them into each catalogue and compiles each one (fuzzy entries left out: an unchecked translation is
never shown). ``tests/test_i18n.py`` checks that every catalogue translates every message and that
each compiled catalogue holds exactly its ``.po``'s checked translations. English needs no
catalogue: its translations are the ids themselves.
"""

from __future__ import annotations

import gettext
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from facemood.emotions import EMOTIONS

LOCALE_DIR = Path(__file__).resolve().parent / "locales"
DOMAIN = "facemood"
SOURCE_LANGUAGE = "en"
# How each language names itself on the page's switch.
LANGUAGE_NAMES = {"en": "English", "es": "Español", "zh": "中文（简体）"}

Words = gettext.NullTranslations  # what turns a message id into the student's language


def catalogue_path(language: str) -> Path:
    """Where ``language``'s catalogue, the one translators edit, lives."""
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def compiled_path(language: str) -> Path:
    """Where ``language``'s compiled catalogue, the one the page reads, lives."""
    return catalogue_path(language).with_suffix(".mo")


def catalogue_languages() -> tuple[str, ...]:
    """English and every language with a compiled catalogue, English first."""
    found = sorted(p.parent.parent.name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.mo"))
    return (SOURCE_LANGUAGE, *[lang for lang in found if lang != SOURCE_LANGUAGE])


@cache
def words_for(language: str) -> Words:
    """The translations of ``language`` (English: the message ids as they are), read once per
    process. Raises FileNotFoundError for a language without a compiled catalogue."""
    if language == SOURCE_LANGUAGE:
        return gettext.NullTranslations()
    # compiled by `make messages` (Babel, a development tool): the page needs only the standard library
    with compiled_path(language).open("rb") as compiled:
        return gettext.GNUTranslations(compiled)


def preferred_languages(accept_language: str) -> list[str]:
    """The primary language subtags of an ``Accept-Language`` header, most wanted first
    ("es-MX,es;q=0.9,en;q=0.5" -> ["es", "en"]); malformed parts are skipped."""
    ranked = []
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        primary = tag.strip().split("-")[0].split("_")[0].lower()
        if primary and primary != "*" and quality > 0:
            ranked.append((-quality, position, primary))
    seen: list[str] = []
    for _, _, primary in sorted(ranked):
        if primary not in seen:
            seen.append(primary)
    return seen


def negotiate(accept_language: str, supported: Sequence[str]) -> str:
    """The first of the browser's languages the page speaks, else the first supported one."""
    return next((lang for lang in preferred_languages(accept_language) if lang in supported), supported[0])


def expression_names(words: Words) -> dict[str, str]:
    """How a sentence names each expression, by emotion label, in ``words``' language."""
    names = {"angry": words.pgettext("expression", "angry"),
             "disgust": words.pgettext("expression", "disgusted"),
             "fear": words.pgettext("expression", "fearful"),
             "happy": words.pgettext("expression", "happy"),
             "sad": words.pgettext("expression", "sad"),
             "surprise": words.pgettext("expression", "surprised"),
             "neutral": words.pgettext("expression", "neutral")}
    return {emotion: names[emotion] for emotion in EMOTIONS}


ENGLISH = words_for(SOURCE_LANGUAGE)
