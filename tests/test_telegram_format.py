"""Formatting and limits for Telegram, without the network."""

import datetime as dt

import pytest
from telegram.error import RetryAfter

from adapters.telegram import format as fmt
from adapters.telegram.calls import retry_seconds
from tests.fakes.telegram import parse_html


def test_markdown_becomes_telegram_html() -> None:
    html = fmt.to_html(
        "# Plan\n**Bold**, *it*, snake_case_name, `a<b>`, [site](https://e.com/?a=1&b=2)\n"
        "- one\n```python\nif a < b:\n    pass\n```"
    )
    assert html == (
        "<b>Plan</b>\n<b>Bold</b>, <i>it</i>, snake_case_name, <code>a&lt;b&gt;</code>, "
        '<a href="https://e.com/?a=1&amp;b=2">site</a>\n• one\n'
        '<pre><code class="language-python">if a &lt; b:\n    pass</code></pre>'
    )
    text, entities = parse_html(html)  # the fake parses HTML as Telegram does
    assert "Plan" in text and entities


def test_model_html_is_escaped_not_rendered() -> None:
    assert (
        fmt.to_html("<script>x</script> & <b>") == "&lt;script&gt;x&lt;/script&gt; &amp; &lt;b&gt;"
    )


def test_split_respects_utf16_length_and_boundaries() -> None:
    text = "😀" * 3000 + "\n\n" + "tail sentence."
    parts = fmt.split(text)
    assert all(fmt.utf16_len(p) <= fmt.MESSAGE_LIMIT for p in parts)
    assert "".join(parts).replace("\n", "") == text.replace("\n", "")


def test_truncate_adds_an_ellipsis() -> None:
    assert fmt.truncate("short", 10) == "short"
    cut = fmt.truncate("a" * 2000, fmt.CAPTION_LIMIT)
    assert fmt.utf16_len(cut) <= fmt.CAPTION_LIMIT and cut.endswith("…")


def test_retry_after_as_int_or_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    assert retry_seconds(RetryAfter(dt.timedelta(seconds=3))) == 3.0
    assert retry_seconds(RetryAfter(7)) == 7.0
    assert retry_seconds(RetryAfter(dt.timedelta(hours=2))) == 60.0
