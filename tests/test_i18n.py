"""The catalogues: every line translated in every shipped language, placeholders kept, the
template up to date with the code. How lines are said is tested in tests/test_i18n_lines.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from core.i18n import (
    DEFAULT_LOCALE,
    DOMAIN,
    LOCALES_DIR,
    Catalogs,
    placeholders,
)

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = LOCALES_DIR / f"{DOMAIN}.pot"
# `make messages` passes the same keywords (Makefile: EXTRACT).
KEYWORDS = {**DEFAULT_KEYWORDS, "Line": None, "locale_str": None}
SHIPPED = ("es", "de", "fr", "ru", "pt_BR")


def _catalog(path: Path, locale: str | None = None):  # type: ignore[no-untyped-def]
    with path.open("rb") as file:
        return read_po(file, locale=locale)


def _ids(catalog) -> set[str]:  # type: ignore[no-untyped-def]
    return {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}


def _extracted() -> set[str]:
    with (ROOT / "babel.cfg").open() as file:
        method_map, options_map = parse_mapping_cfg(file)  # type: ignore[no-untyped-call]
    found = extract_from_dir(ROOT, method_map, options_map, keywords=KEYWORDS)
    return {message if isinstance(message, str) else message[0] for _, _, message, *_ in found}


def test_every_language_of_the_issue_is_shipped() -> None:
    assert set(SHIPPED) <= set(Catalogs().locales)
    assert Catalogs().locales[0] == DEFAULT_LOCALE


def test_the_template_holds_every_line_of_the_code() -> None:
    """Re-extraction finds no id the template lacks, and the template keeps none gone."""
    in_code, template = _extracted(), _ids(_catalog(TEMPLATE))
    assert in_code - template == set(), "new lines: run `make messages` and translate them"
    assert template - in_code == set(), "lines gone from the code: run `make messages`"


@pytest.mark.parametrize("locale", SHIPPED)
def test_every_line_is_translated(locale: str) -> None:
    catalog = _catalog(LOCALES_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po", locale)
    assert _ids(catalog) == _ids(_catalog(TEMPLATE)), "run `make messages`"
    untranslated = [
        message.id
        for message in catalog
        if message.id
        and (
            message.fuzzy
            or not all(message.string if isinstance(message.string, tuple) else [message.string])
        )
    ]
    assert untranslated == []


@pytest.mark.parametrize("locale", SHIPPED)
def test_translations_keep_the_placeholders_and_are_not_english(locale: str) -> None:
    catalog = _catalog(LOCALES_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po", locale)
    wrong, copied = [], []
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = placeholders(ids[0])
        wrong += [(ids[0], s) for s in strings if placeholders(s) != wanted]
        # A sentence said the same as in English is a copy; "{minutes} min" may well be.
        words = [w for w in ids[0].split() if w.isalpha() and len(w) > 3]
        if strings[0] == ids[0] and len(words) >= 3:
            copied.append(ids[0])
    assert wrong == []
    assert copied == []
