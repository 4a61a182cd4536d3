"""The avatar video on Telegram: where it goes, what goes with it, and Telegram's upload limit."""

import re
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.did import FakeDID
from tests.fakes.groq import FakeGroq
from tests.fakes.telegram import FakeTelegram
from tests.harness import running_bot, settings_for, telegram_at

ALICE, GROUP = 1001, -100500
MB = 1024 * 1024


def settings(tmp_path: Path, groq: FakeGroq, did: FakeDID, tg: FakeTelegram, **extra: Any) -> Any:
    return settings_for(tmp_path, groq, did, **telegram_at(tg), **extra)


async def test_the_video_goes_to_its_answers_topic_as_a_reply_to_it(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, tg: FakeTelegram
) -> None:
    async with running_bot(settings(tmp_path, groq, did, tg)):
        tg.push_mention(GROUP, "hello", message_thread_id=11)
        (video,) = await tg.wait_for_sent(GROUP, "sendVideo")
    (answer,) = tg.sent(GROUP, "sendMessage")
    assert (video.thread_id, video.reply_to) == (11, answer.message_id)
    assert re.fullmatch(r"avatar-\d+\.mp4", video.filename or "")
    assert video.caption is None  # the answer is right above it


async def test_a_video_that_says_only_the_start_says_so(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, tg: FakeTelegram
) -> None:
    groq.reply = " ".join(f"Sentence number {n} says a little more." for n in range(100))
    config = settings(tmp_path, groq, did, tg, AVATAR_MAX_SECONDS="20", LLM_MAX_TOKENS="4000")
    async with running_bot(config):
        tg.push_text(ALICE, "Tell me everything.")
        (video,) = await tg.wait_for_sent(ALICE, "sendVideo")
    assert video.caption == (
        "🎬 The video says the start: the rest of the answer is in the text above."
    )


@pytest.mark.parametrize(("extra", "sent"), [(0, True), (1, False)])
async def test_a_video_up_to_the_upload_limit_is_sent_and_one_over_it_is_not(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, tg: FakeTelegram, extra: int, sent: bool
) -> None:
    # An MP4 with trailing padding. 1 MiB: aiohttp warns about (so these tests fail on) raw
    # bytes bodies over 1 MiB, which adapters/telegram/request.py sends.
    did.video += bytes(MB - len(did.video) + extra)
    config = settings(tmp_path, groq, did, tg, TELEGRAM_UPLOAD_LIMIT_MB="1")
    async with running_bot(config):
        tg.push_text(ALICE, "hi")
        if sent:
            await tg.wait_for_sent(ALICE, "sendVideo")
        else:
            await tg.wait_for_sent(ALICE, "sendMessage", count=2)
    if sent:
        assert len(tg.sent(ALICE, "sendVideo")[0].video or b"") == MB
    else:
        note = tg.sent(ALICE, "sendMessage")[-1].text
        assert (note, tg.sent(ALICE, "sendVideo")) == (
            "The avatar video is over Telegram's 1 MB limit, sorry.",
            [],
        )
