"""Lines in the user's language: placeholders written as the locale writes them, Lines said in
a locale, the choice of a locale from what platforms send. (The catalogues' completeness is
tested in tests/test_i18n.py, which reads the source tree and is out of mutmut's selection.)"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from core import messages
from core.i18n import (
    DEFAULT_LOCALE,
    DOMAIN,
    Catalogs,
    Line,
    Number,
    accept_language_tags,
    joined,
    msgid,
    placeholders,
)
from core.usage import UsageReport, Used, describe

SHIPPED = ("es", "de", "fr", "ru", "pt_BR")


def test_a_line_is_said_in_the_chosen_language() -> None:
    catalogs = Catalogs()
    line = Line("That's too long for me — please keep it under {limit} characters.", limit=4000)
    assert line == "That's too long for me — please keep it under 4,000 characters."
    german = catalogs.lines("de").say(line)
    assert "4.000" in german and "4,000" not in german  # Babel writes the number as de does
    assert german != line and msgid(german) == line.msgid  # still a Line, with its id
    assert catalogs.lines("xx").say(line) == line  # not shipped: English
    assert catalogs.lines("de").say("plain text") == "plain text"  # not a Line: as it is


def test_lines_nested_in_a_line_are_said_too() -> None:
    reason = Line("today's avatar videos are all used")
    line = Line("No video this time: {reason}; they reset in {time}.", reason=reason, time="1 h")
    russian = Catalogs().lines("ru").say(line)
    assert reason not in russian and Catalogs().lines("ru").say(reason) in russian


def test_joined_lines_are_said_each_in_the_language() -> None:
    """A caption of several lines (why no video came, then that a voice note comes)."""
    why, instead = (
        Line("today's avatar videos are all used"),
        Line("🔊 Here is a voice answer instead."),
    )
    caption = joined(why, None, "", instead)
    assert caption == f"{why}\n{instead}"
    german = Catalogs().lines("de").say(caption)
    lines = Catalogs().lines("de")
    assert german.splitlines() == [lines.say(why), lines.say(instead)] != [why, instead]
    assert joined(None, "") is None


def test_usage_and_stats_numbers_are_written_as_the_language_writes_them() -> None:
    used = Used(videos=2, video_ms=12_400, voice_answers=1, tokens=123_456)
    report = describe(UsageReport(used, used))
    assert "123,456 LLM tokens" in report  # English, as before
    german = Catalogs().lines("de").say(report)
    assert "LLM-Tokens: 123.456" in german and "(12 s Video)" in german
    stats = Line(messages.STATS, messages=1234, renders=2, seconds=Number(7.25, "#,##0.0"),
                 credits=1, errors=0, refusals=0, rendering=0)  # fmt: skip
    assert "2 videos of 7.2 s in all" in stats and "1,234 messages" in stats
    assert "7,2 s" in Catalogs().lines("fr").say(stats)


def test_numbers_and_dates_follow_the_locale() -> None:
    lines = Catalogs().lines("fr")  # not today's date: Babel writes today when given none
    assert lines.number(1234.5) == "1\u202f234,5"
    assert lines.date(dt.date(2027, 3, 5)) == "5 mars 2027"
    assert Catalogs().lines("en").date(dt.date(2027, 3, 5)) == "Mar 5, 2027"


@pytest.mark.parametrize(
    ("tags", "chosen"),
    [
        (["de"], "de"),  # Telegram's language_code
        (["de-CH"], "de"),
        (["pt-br"], "pt_BR"),  # Telegram writes regional codes in lower case
        (["pt"], "pt_BR"),  # the one Portuguese shipped
        (["pt_BR"], "pt_BR"),  # POSIX spelling
        (["de_CH"], "de"),
        (["es-419"], "es"),  # Discord's Latin American Spanish
        (["es-ES"], "es"),
        (["en-GB"], "en"),
        (["ja"], "en"),  # not shipped: English
        (["zz-ZZ"], "en"),
        (["not a tag!"], "en"),
        ([None, ""], "en"),
        (["ja", "fr"], "fr"),  # the first shipped of the user's preferences
    ],
)
def test_the_closest_shipped_locale_is_chosen(tags: list[str | None], chosen: str) -> None:
    assert Catalogs().choose(tags) == chosen


@pytest.mark.parametrize(
    ("header", "chosen"),
    [
        ("es-ES,es;q=0.9,en;q=0.8", "es"),
        ("en;q=0.5, ru", "ru"),  # by weight, not by order
        ("fr;q=0, de", "de"),  # q=0: not acceptable
        ("*", "en"),
        ("", "en"),
        ("ja, x-klingon;q=0.9, pt-BR;q=0.8", "pt_BR"),
        ("de;q=abc", "en"),  # a malformed weight counts as 0
    ],
)
def test_accept_language_picks_by_weight(header: str, chosen: str) -> None:
    assert Catalogs().accept_language(header) == chosen


def test_a_translation_with_other_fields_falls_back_to_english(tmp_path: Path) -> None:
    """A catalogue that slipped past the checks must not cost the user the line."""
    po = tmp_path / "de" / "LC_MESSAGES" / f"{DOMAIN}.po"
    po.parent.mkdir(parents=True)
    po.write_text(
        'msgid ""\nmsgstr "Content-Type: text/plain; charset=utf-8\\n"\n\n'
        'msgid "Only the bot\'s admins can use /{name}."\nmsgstr "Nur Admins: /{befehl}."\n\n'
        'msgid "Sorry, this bot is private."\nmsgstr "Tut mir leid, dieser Bot ist privat."\n',
        encoding="utf-8",
    )
    german = Catalogs(tmp_path).lines("de")
    assert german.gettext("Only the bot's admins can use /{name}.", name="stats") == (
        "Only the bot's admins can use /stats."
    )
    assert german.gettext("Sorry, this bot is private.") == "Tut mir leid, dieser Bot ist privat."


SHOWN = [
    ("no fields keep braces", "Use {braces} as they are.", dict(), "Use {braces} as they are."),
    ("integer", "{n} messages", dict(n=1234567), "1,234,567 messages"),
    ("float", "{s} s", dict(s=2.5), "2.5 s"),
    ("number pattern", "{s} s", dict(s=Number(7.25, "#,##0.0")), "7.2 s"),
    ("default pattern", "{s} s", dict(s=Number(1234.56789)), "1,234.568 s"),
    ("bool as it is", "admin: {yes}", dict(yes=True), "admin: True"),
    ("list", "pick {names}", dict(names=["Ava", "Guy"]), "pick Ava, Guy"),
    ("tuple of numbers", "ids {ids}", dict(ids=(1, 2)), "ids 1, 2"),
    ("date", "on {day}", dict(day=dt.date(2027, 3, 5)), "on Mar 5, 2027"),
    ("datetime", "on {day}", dict(day=dt.datetime(2027, 3, 5, 23, 59)), "on Mar 5, 2027"),
    ("text", "hi {who}", dict(who="Bob"), "hi Bob"),
]


# Lines are made in the test, not at collection: mutmut switches a mutant on after collecting.
@pytest.mark.parametrize(
    ("message", "params", "text"), [c[1:] for c in SHOWN], ids=[c[0] for c in SHOWN]
)
def test_placeholders_are_written_as_english_writes_them(
    message: str, params: dict[str, object], text: str
) -> None:
    assert Line(message, **params) == text


def test_a_line_keeps_its_id_and_fields() -> None:
    line = Line("{n} messages", n=3)
    assert (line.msgid, dict(line.params), msgid(line), msgid("plain")) == (
        "{n} messages",
        {"n": 3},
        "{n} messages",
        "plain",
    )
    assert placeholders("{a} and {b} and {a}, not {{c}}") == {"a", "b"}
    assert joined("one", "two", sep=" / ") == "one / two"
    assert joined("one", "two", sep=" / ").msgid == "{part0} / {part1}"  # type: ignore[union-attr]


def test_the_forms_of_a_count_and_lists_in_a_locale() -> None:
    english = Catalogs().lines(None)
    assert english.locale == DEFAULT_LOCALE
    assert english.ngettext("{n} video", "{n} videos", 1) == "1 video"
    assert english.ngettext("{n} video", "{n} videos", 1234) == "1,234 videos"
    assert english.ngettext("{n} video", "{n} videos", 2, n="two") == "two videos"
    german = Catalogs().lines("de")
    reason = Line("today's avatar videos are all used")
    said = german.gettext("{why}", why=[reason, "as it is", 7])
    assert said == f"{german.say(reason)}, as it is, 7" and german.say(reason) != reason


def test_english_is_the_first_locale_and_the_default() -> None:
    catalogs = Catalogs()
    assert catalogs.locales[0] == DEFAULT_LOCALE
    assert sorted(catalogs.locales[1:]) == sorted(SHIPPED)
    assert catalogs.lines("xx").locale == catalogs.lines("").locale == DEFAULT_LOCALE
    assert catalogs.lines("pt_BR").locale == "pt_BR"


@pytest.mark.parametrize(
    ("header", "tags"),
    [
        ("fr;q=0.8, de;q=0.8, en", ["en", "fr", "de"]),  # equal weights keep their order
        ("de;q=1, fr", ["de", "fr"]),  # no weight is q=1
        ("de;Q=0.5 , ru ; q=0.9", ["ru", "de"]),  # parameter names are case-insensitive
        ("es;level=1;q=0.7, it", ["it", "es"]),  # other parameters are ignored
        ("*;q=0.5, ja", ["ja"]),
        (", ,de", ["de"]),
        (",".join(["x"] * 32 + ["de"]), ["x"] * 32),  # at most 32 entries are read
    ],
    ids=["ties", "default weight", "case", "other parameters", "star", "empty entries", "cap"],
)
def test_accept_language_tags_in_order_of_preference(header: str, tags: list[str]) -> None:
    assert accept_language_tags(header) == tags
