"""Compile each of the page's catalogues (``facemood/locales/<language>/LC_MESSAGES/facemood.po``)
into the ``facemood.mo`` beside it, the file the page reads with Python's gettext. Fuzzy entries are
left out: an unchecked translation is never shown. ``make messages`` runs it last:

    python -m scripts.compile_catalogues

It does what ``pybabel compile`` does without that command's python-format check, which reads "{n}% of"
as a printf "% o" and fails the catalogues that translate it (python-babel/babel#1268).
``tests/test_i18n.py`` checks the brace placeholders instead, and that every compiled catalogue says
what its ``.po`` says.
"""

from __future__ import annotations

import logging

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from facemood.i18n import DOMAIN, LOCALE_DIR, catalogue_path, compiled_path

log = logging.getLogger(__name__)


def compile_catalogue(language: str) -> int:
    """Write ``language``'s compiled catalogue from its ``.po``; return how many messages it holds."""
    with catalogue_path(language).open("rb") as po:
        catalogue = read_po(po, locale=language, domain=DOMAIN)
    with compiled_path(language).open("wb") as mo:
        write_mo(mo, catalogue, use_fuzzy=False)
    return sum(1 for message in catalogue if message.id and message.string and not message.fuzzy)


def main() -> None:
    """Compile every catalogue under facemood/locales."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for po in sorted(LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        language = po.parent.parent.name
        log.info("%s: %d translated messages compiled into %s", language, compile_catalogue(language),
                 compiled_path(language).relative_to(LOCALE_DIR.parent.parent))


if __name__ == "__main__":
    main()
