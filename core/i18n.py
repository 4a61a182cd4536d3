"""The bot's own lines in its user's language: gettext catalogues in core/locales, read by Babel.

Lines are written in English in the code and translated where their reader's locale is known.
A line made deep in the core (an error, a quota's refusal) is a `Line`: the English text, which
also remembers its message id and placeholders, so the turn runner or an adapter can say it in
the turn's locale later. Code that knows the locale asks its `Lines` (`gettext`, `ngettext`).

`make messages` extracts the message ids into core/locales/avatarbot.pot and updates every
catalogue; the catalogues are compiled in memory when they are loaded (no build step).
"""

from __future__ import annotations

import functools
import io
import logging
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from babel import Locale, UnknownLocaleError, negotiate_locale
from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

log = logging.getLogger(__name__)

DOMAIN = "avatarbot"
LOCALES_DIR = Path(__file__).with_name("locales")
DEFAULT_LOCALE = "en"
# A language with one shipped regional catalogue reads that one ("pt" → Brazilian Portuguese).
_ALIASES = {"pt": "pt_BR"}


def N_(message: str) -> str:
    """Mark `message` for extraction only: it is translated where its reader's locale is known."""
    return message


class Line(str):
    """An English line for the user that remembers its message id and placeholders.

    As a `str` it is the English text (placeholders filled in), so code that only shows or logs
    it needs nothing more; `Lines.say` turns it into its reader's language.
    """

    msgid: str
    params: Mapping[str, object]

    def __new__(cls, msgid: str, /, **params: object) -> Line:
        """Make the English line `msgid` with its `{placeholders}` filled from `params`."""
        return cls.said(_fill(msgid, params, DEFAULT_LOCALE), msgid, params)

    @classmethod
    def said(cls, text: str, msgid: str, params: Mapping[str, object]) -> Line:
        """Return `text` (the line `msgid` in some language) as a `Line` that keeps its id."""
        line = super().__new__(cls, text)
        line.msgid, line.params = msgid, params
        return line


def joined(*lines: str | None, sep: str = "\n") -> Line | None:
    """Join the lines given (None and empty ones left out) into one `Line`, said part by part.

    Its id holds only the parts' fields joined by `sep`: no words of its own to translate.
    """
    parts = [line for line in lines if line]
    if not parts:
        return None
    fields = {f"part{index}": part for index, part in enumerate(parts)}
    return Line(sep.join("{" + name + "}" for name in fields), **fields)


def msgid(text: str) -> str:
    """Return the message id of a `Line` in any language; other text is its own id."""
    return text.msgid if isinstance(text, Line) else text


def placeholders(text: str) -> set[str]:
    """Return the names of the `{placeholders}` in `text` (what a translation must keep)."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _fill(text: str, params: Mapping[str, object], locale: str) -> str:
    """Fill the placeholders, numbers and dates written as `locale` writes them."""
    if not params:
        return text
    return text.format_map({name: _shown(value, locale) for name, value in params.items()})


@dataclass(frozen=True, slots=True)
class Number:
    """A number with its CLDR pattern, for a placeholder that needs one ("#,##0.0": 12.0)."""

    value: float
    pattern: str = "#,##0.###"


def _shown(value: object, locale: str) -> object:
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    if isinstance(value, Number):
        return format_decimal(value.value, format=value.pattern, locale=locale)
    if isinstance(value, bool) or not isinstance(value, int | float | date):
        return value
    if isinstance(value, datetime | date):
        return format_date(value, format="medium", locale=locale)
    return format_decimal(value, locale=locale)


class Lines:
    """One locale's translations, and Babel's way of writing numbers and dates in it."""

    def __init__(self, locale: str, translations: NullTranslations) -> None:
        self.locale, self._translations = locale, translations

    def gettext(self, message: str, /, **params: object) -> str:
        """Return `message` in this locale, its placeholders filled from `params`.

        A `Line` among `params` (or a list of them) is said in this locale too.
        """
        said = {name: self._said(value) for name, value in params.items()}
        try:
            return _fill(self._translations.gettext(message), said, self.locale)
        except (KeyError, IndexError, ValueError):  # a translation that names other fields
            log.warning("the %s translation of %r does not fit its fields", self.locale, message)
            return _fill(message, said, self.locale)

    def ngettext(self, singular: str, plural: str, n: int, /, **params: object) -> str:
        """Return the form for `n` in this locale; `n` fills `{n}` unless `params` name it."""
        text = self._translations.ngettext(singular, plural, n)
        return _fill(text, {"n": n} | dict(params), self.locale)

    def _said(self, value: object) -> object:
        """Return a placeholder's value in this locale: a `Line`, or several joined by ", "."""
        if isinstance(value, Line):
            return self.say(value)
        if isinstance(value, list | tuple):
            return ", ".join(
                self.say(item) if isinstance(item, str) else str(item) for item in value
            )
        return value

    def say(self, line: str) -> str:
        """Return a `Line` in this locale (still a `Line`, with its id); other text as it is."""
        if isinstance(line, Line):
            return Line.said(self.gettext(line.msgid, **line.params), line.msgid, line.params)
        return line

    def number(self, value: float, /) -> str:
        """Write a number as this locale does (separators, decimal mark)."""
        return format_decimal(value, locale=self.locale)

    def date(self, value: date, /) -> str:
        """Write a date as this locale does (medium length: "1 Dec 2026")."""
        return format_date(value, format="medium", locale=self.locale)


class Catalogs:
    """The shipped catalogues, compiled in memory once, and the choice of one for a user."""

    def __init__(self, folder: Path = LOCALES_DIR) -> None:
        self._lines = {DEFAULT_LOCALE: Lines(DEFAULT_LOCALE, NullTranslations())}
        for po in sorted(folder.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
            locale = po.parent.parent.name
            if locale != DEFAULT_LOCALE:
                self._lines[locale] = Lines(locale, _compiled(po, locale))

    @property
    def locales(self) -> tuple[str, ...]:
        """The locales with a catalogue, English first (Babel's ids: "de", "pt_BR")."""
        return tuple(self._lines)

    def lines(self, locale: str | None) -> Lines:
        """Return the lines of a shipped locale (as `choose` names it); English otherwise."""
        return self._lines.get(locale or DEFAULT_LOCALE) or self._lines[DEFAULT_LOCALE]

    def choose(self, tags: Iterable[str | None]) -> str:
        """Return the shipped locale closest to the first usable of `tags`, else English.

        `tags` are language tags in order of preference, as the platforms give them: Telegram's
        `language_code` ("de", "pt-br"), a Discord locale ("es-ES", "pt-BR"), the browser's.
        """
        by_lower = {locale.lower(): locale for locale in self._lines}
        preferred = [_babel_id(tag) for tag in tags if tag]
        found = negotiate_locale(
            [tag for tag in preferred if tag], list(self._lines), aliases=_ALIASES
        )
        return by_lower.get((found or "").lower(), DEFAULT_LOCALE)

    def accept_language(self, header: str | None) -> str:
        """Return the shipped locale an HTTP `Accept-Language` header prefers, else English."""
        return self.choose(accept_language_tags(header or ""))


@functools.cache
def shipped_catalogs() -> Catalogs:
    """Return the catalogues in core/locales, read once per process (package data)."""
    return Catalogs()


def _compiled(po: Path, locale: str) -> Translations:
    """Compile a .po file in memory, as `msgfmt` would (fuzzy entries left out)."""
    with po.open("rb") as file:
        catalog = read_po(file, locale=locale, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def _babel_id(tag: str) -> str | None:
    """Return Babel's id for a language tag ("pt-br" → "pt_BR"), None when it names none."""
    try:
        return str(Locale.parse(tag.strip().replace("_", "-"), sep="-"))
    except (ValueError, TypeError, UnknownLocaleError):
        return None


def accept_language_tags(header: str) -> list[str]:
    """Return the language tags of an `Accept-Language` header, most preferred first.

    RFC 9110 §12.5.4: `de-CH, de;q=0.9, *;q=0.5`; a tag with q=0 is not acceptable, and `*`
    names no language in particular.
    """
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")[:32]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        tag = tag.strip()
        if tag and tag != "*" and quality > 0:
            weighted.append((-quality, index, tag))
    return [tag for _, _, tag in sorted(weighted)]
