"""The page's language: chosen from the browser's languages (its own, then ``Accept-Language``) on the first visit,
switchable on the page, remembered for the browser session; and the page's ``_``/``ngettext``
that turn an English message id into it (catalogues: :mod:`facemood.i18n`)."""

from __future__ import annotations

import json

import streamlit as st

from facemood.i18n import LANGUAGE_NAMES, SOURCE_LANGUAGE, Words, catalogue_languages, negotiate, words_for

LANGUAGE_KEY = "language"  # the session's language (session state: this browser session only)
SWITCH_KEY = "language_switch"
SWITCHED_KEY = "language_switched"  # the student chose a language on the switch in this page session
LANGUAGE_COOKIE = "facemood_language"  # a language chosen on the switch, for this browser session (no identity)


def choose_language(supported: tuple[str, ...] | None = None) -> str:
    """The session's language: the one chosen on the page (in this page session, or earlier in this
    browser session), else the browser's best match among ``supported`` (default: every catalogue)."""
    supported = supported or catalogue_languages()
    chosen = st.session_state.get(LANGUAGE_KEY)
    if chosen not in supported:  # a new page session: a language switched to earlier in this browser session
        chosen = st.context.cookies.get(LANGUAGE_COOKIE)
    if chosen not in supported:
        # the browser's own language (navigator.language) first, then its Accept-Language list: the
        # two agree in a browser as set up by its user, and the first is the one its pages are read in
        wanted = ",".join(filter(None, (st.context.locale, st.context.headers.get("Accept-Language"))))
        chosen = negotiate(wanted, supported)
    st.session_state[LANGUAGE_KEY] = chosen
    return chosen


def current_language() -> str:
    """The session's language (as :func:`choose_language` chose it)."""
    return st.session_state.get(LANGUAGE_KEY, SOURCE_LANGUAGE)


def words() -> Words:
    """The session's translations."""
    return words_for(current_language())


def _(message: str) -> str:
    """``message`` (an English message id) in the session's language."""
    return words().gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    """The singular or plural message for ``count``, in the session's language."""
    return words().ngettext(singular, plural, count)


def document_language_script() -> str:
    """A script that tells the browser (and screen readers) which language the page is in, and
    remembers a language chosen on the switch for the browser session (a session cookie)."""
    language = json.dumps(current_language())
    remember = (f"document.cookie = '{LANGUAGE_COOKIE}=' + {language} + '; path=/; SameSite=Strict'"
                " + (location.protocol === 'https:' ? '; Secure' : '');" if st.session_state.get(SWITCHED_KEY) else "")
    return f"<script>document.documentElement.lang = {language};{remember}</script>"


def language_switch_ui(supported: tuple[str, ...]) -> None:
    """The switch, each language by its own name; its label in every language, so a student who
    landed on a language they do not read still finds it."""
    if len(supported) < 2:
        return

    def switched() -> None:
        st.session_state[LANGUAGE_KEY] = st.session_state[SWITCH_KEY]
        st.session_state[SWITCHED_KEY] = True  # remembered for the browser session from now on

    st.session_state[SWITCH_KEY] = current_language()
    label = " · ".join(dict.fromkeys(words_for(lang).gettext("Language") for lang in supported))
    st.radio(f"🌐 {label}", supported, key=SWITCH_KEY, format_func=lambda lang: LANGUAGE_NAMES.get(lang, lang),
             horizontal=True, on_change=switched)
