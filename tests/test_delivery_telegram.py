"""TelegramDelivery driven directly: a real PTB Bot (on the bot's aiohttp request) against the
fake Bot API server, with no bot around it. What goes out, where, and how each refusal ends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from telegram import Bot
from telegram.error import BadRequest

from adapters.telegram.actions import ChatActions
from adapters.telegram.convert import Target
from adapters.telegram.delivery import NO_VIDEOS, TelegramDelivery, VideoRefusals
from adapters.telegram.request import AiohttpRequest
from core.avatar.jobs import PermanentDeliveryError
from core.i18n import shipped_catalogs
from core.replies import PAUSED
from core.types import (
    AvatarFailed,
    AvatarJob,
    ConversationKey,
    JobState,
    ScriptKind,
    VideoReady,
    VoiceNote,
)
from tests.fakes.telegram import FakeTelegram, MessageContext

GROUP, TOPIC, OTHER = -100500, 11, -100600
MB = 1024 * 1024
TRUNCATED = "🎬 The video says the start: the rest of the answer is in the text above."
SUMMED_UP = "🎬 The video sums up the answer: the whole of it is in the text above."


class RecordingActions(ChatActions):
    """The real chat actions, noting what each release asked for."""

    def __init__(self, bot: Bot) -> None:
        super().__init__(bot)
        self.released: list[tuple[int, int | None, str]] = []

    def release(self, chat_id: int, thread_id: int | None, action: str) -> None:
        self.released.append((chat_id, thread_id, action))
        super().release(chat_id, thread_id, action)


class Rig:
    def __init__(self, tg: FakeTelegram, bot: Bot, tmp_path: Path) -> None:
        self.tg, self.bot, self.tmp_path = tg, bot, tmp_path
        self.actions = RecordingActions(bot)
        self.delivery = TelegramDelivery(bot, self.actions, upload_limit=MB)

    def answer_in(self, chat_id: int, thread_id: int | None = None) -> Target:
        """The text answer the video replies to, as a message in the fake's chat."""
        context: MessageContext = {"chat_type": "supergroup"}
        if thread_id is not None:
            context["message_thread_id"] = thread_id
        pushed = self.tg.push_text(chat_id, "the answer", **context)
        return Target(chat_id, pushed["message"]["message_id"], thread_id)

    def ready(
        self,
        target: Target,
        size: int,
        *,
        job_id: int = 7,
        truncated: bool = False,
        kind: ScriptKind = "start",
    ) -> VideoReady:
        path = self.tmp_path / f"{job_id}.mp4"
        with path.open("wb") as file:
            file.truncate(size)  # sparse: only its size matters until it is sent
        return VideoReady(replace(job(target, job_id, truncated), script_kind=kind), path)


def job(target: Target, job_id: int = 7, truncated: bool = False) -> AvatarJob:
    key = ConversationKey("telegram", str(target.chat_id))
    return AvatarJob(job_id, key, "hi", target.dump(), JobState.RENDERED, truncated=truncated)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with FakeTelegram() as tg:
        request = AiohttpRequest(4)
        bot = Bot(tg.token, base_url=f"{tg.base_url}/bot", request=request)
        async with bot:
            rig = Rig(tg, bot, tmp_path)
            try:
                yield rig
            finally:
                await rig.actions.aclose()


async def test_the_video_goes_to_its_topic_as_a_reply_with_its_name_and_no_caption(
    rig: Rig,
) -> None:
    target = rig.answer_in(GROUP, TOPIC)
    await rig.delivery.deliver_video(rig.ready(target, 1000, job_id=42))
    (video,) = rig.tg.sent(GROUP, "sendVideo")
    assert (video.thread_id, video.reply_to, video.filename) == (
        TOPIC,
        target.message_id,
        "avatar-42.mp4",
    )
    assert (video.caption, video.supports_streaming, len(video.video or b"")) == (None, True, 1000)
    assert rig.actions.released == [(GROUP, TOPIC, "record_video")]


async def test_a_video_that_says_only_the_start_is_captioned_so(rig: Rig) -> None:
    target = rig.answer_in(GROUP)
    await rig.delivery.deliver_video(rig.ready(target, 10, truncated=True))
    (video,) = rig.tg.sent(GROUP, "sendVideo")
    assert (video.caption, video.thread_id, video.reply_to) == (TRUNCATED, None, target.message_id)


async def test_a_video_that_sums_up_the_answer_is_captioned_so(rig: Rig) -> None:
    target = rig.answer_in(GROUP)
    await rig.delivery.deliver_video(rig.ready(target, 10, truncated=True, kind="summary"))
    (video,) = rig.tg.sent(GROUP, "sendVideo")
    assert video.caption == SUMMED_UP


async def test_a_video_whose_answer_is_gone_is_sent_on_its_own(rig: Rig) -> None:
    await rig.delivery.deliver_video(rig.ready(Target(GROUP, 999), 10))
    (video,) = rig.tg.sent(GROUP, "sendVideo")
    assert video.reply_to is None


@pytest.mark.parametrize(
    ("limit", "size", "note"),
    [
        (MB, MB, None),
        (MB, MB + 1, "The avatar video is over Telegram's 1 MB limit, sorry."),
        (3 * MB, 3 * MB + 1, "The avatar video is over Telegram's 3 MB limit, sorry."),
        (MB // 2, MB // 2 + 1, "The avatar video is over Telegram's 0.5 MB limit, sorry."),
    ],
)
async def test_a_video_up_to_the_limit_is_sent_and_one_byte_over_it_gets_a_note(
    rig: Rig, limit: int, size: int, note: str | None
) -> None:
    delivery = TelegramDelivery(rig.bot, rig.actions, upload_limit=limit)
    target = rig.answer_in(GROUP, TOPIC)
    await delivery.deliver_video(rig.ready(target, size))
    notes = [(s.text, s.thread_id, s.reply_to) for s in rig.tg.sent(GROUP, "sendMessage")]
    if note is None:
        assert (len(rig.tg.sent(GROUP, "sendVideo")), notes) == (1, [])
    else:
        assert (rig.tg.sent(GROUP, "sendVideo"), notes) == ([], [(note, TOPIC, target.message_id)])
    assert rig.actions.released == [(GROUP, TOPIC, "record_video")]


async def test_without_a_limit_fifty_mb_are_allowed_and_the_note_names_50(rig: Rig) -> None:
    delivery = TelegramDelivery(rig.bot, rig.actions)
    target = rig.answer_in(GROUP)
    await delivery.deliver_video(rig.ready(target, 50 * MB + 1))
    (note,) = rig.tg.sent(GROUP, "sendMessage")
    assert note.text == "The avatar video is over Telegram's 50 MB limit, sorry."


async def test_a_group_that_denies_videos_is_told_once_and_every_video_is_dropped(
    rig: Rig,
) -> None:
    rig.tg.set_permissions(GROUP, can_send_videos=False)
    target = rig.answer_in(GROUP, TOPIC)
    for job_id in (1, 2):
        with pytest.raises(PermanentDeliveryError, match="(?i)not enough rights"):
            await rig.delivery.deliver_video(rig.ready(target, 10, job_id=job_id))
    notes = [(s.text, s.thread_id, s.reply_to) for s in rig.tg.sent(GROUP, "sendMessage")]
    assert notes == [(f"🎬 {NO_VIDEOS}", TOPIC, target.message_id)]
    assert rig.delivery.refusals.refused_lately(GROUP)
    assert not rig.delivery.refusals.refused_lately(OTHER)


async def test_each_chat_that_denies_videos_is_told_once(rig: Rig) -> None:
    for chat in (GROUP, OTHER):
        rig.tg.set_permissions(chat, can_send_videos=False)
        with pytest.raises(PermanentDeliveryError):
            await rig.delivery.deliver_video(rig.ready(rig.answer_in(chat), 10))
        assert [s.text for s in rig.tg.sent(chat, "sendMessage")] == [f"🎬 {NO_VIDEOS}"]


@pytest.mark.parametrize(
    ("status", "description"),
    [
        (403, "Forbidden: bot was blocked by the user"),
        (400, "Bad Request: chat not found"),
    ],
)
async def test_a_chat_that_is_gone_drops_the_video_without_a_note(
    rig: Rig, status: int, description: str
) -> None:
    target = rig.answer_in(GROUP)
    rig.tg.fail_next("sendVideo", status, description=description)
    with pytest.raises(PermanentDeliveryError, match="(?i)" + description.split(": ")[1]):
        await rig.delivery.deliver_video(rig.ready(target, 10))
    assert rig.tg.sent(GROUP, "sendMessage") == []
    assert not rig.delivery.refusals.refused_lately(GROUP)


async def test_another_bad_request_is_raised_as_it_is_for_the_jobs_to_retry(rig: Rig) -> None:
    target = rig.answer_in(GROUP)
    rig.tg.fail_next("sendVideo", 400, description="Bad Request: wrong file identifier")
    with pytest.raises(BadRequest, match="(?i)wrong file identifier") as raised:
        await rig.delivery.deliver_video(rig.ready(target, 10))
    assert not isinstance(raised.value, PermanentDeliveryError)
    assert rig.tg.sent(GROUP, "sendMessage") == []


async def test_a_failure_is_one_line_in_the_topic_as_a_reply(rig: Rig) -> None:
    target = rig.answer_in(GROUP, TOPIC)
    await rig.delivery.deliver_failure(AvatarFailed(job(target), "The video could not be made."))
    (note,) = rig.tg.sent(GROUP, "sendMessage")
    assert (note.text, note.thread_id, note.reply_to) == (
        "🎬 The video could not be made.",
        TOPIC,
        target.message_id,
    )
    assert rig.actions.released == [(GROUP, TOPIC, "record_video")]


def test_a_refusal_is_remembered_for_its_period_only() -> None:
    refusals = VideoRefusals(seconds=3600)
    assert not refusals.refused_lately(GROUP)
    assert refusals.note(GROUP)  # told now
    assert not refusals.note(GROUP)  # not again within the hour
    assert refusals.refused_lately(GROUP) and not refusals.refused_lately(OTHER)
    forgetful = VideoRefusals(seconds=0)
    assert forgetful.note(GROUP) and forgetful.note(GROUP)  # a period of 0 remembers nothing
    assert not forgetful.refused_lately(GROUP)


def voice_note(rig: Rig, target: Target, seconds: float, caption: str | None = None) -> VoiceNote:
    path = rig.tmp_path / "answer-voice.ogg"
    path.write_bytes(b"OggS not really opus")  # the fake keeps what is not OGG/Opus as a file
    key = ConversationKey("telegram", str(target.chat_id))
    return VoiceNote(key, target.dump(), path, seconds, caption)


@pytest.mark.parametrize(
    ("seconds", "duration"), [(0.2, 1), (2.4, 2), (2.6, 3)], ids=["under 1 s", "down", "up"]
)
async def test_a_voice_answer_replies_in_its_topic_with_its_whole_seconds(
    rig: Rig, seconds: float, duration: int
) -> None:
    target = rig.answer_in(GROUP, TOPIC)
    await rig.delivery.deliver_voice(voice_note(rig, target, seconds))
    (voice,) = rig.tg.sent(GROUP, "sendVoice")
    assert (voice.thread_id, voice.reply_to, voice.filename) == (
        TOPIC,
        target.message_id,
        "answer.ogg",
    )
    assert (voice.voice, voice.caption) == (b"OggS not really opus", None)
    assert voice.params["duration"] == duration


async def test_a_voice_answer_s_caption_is_said_in_the_answer_s_language(rig: Rig) -> None:
    answer = rig.answer_in(GROUP)
    target = Target(answer.chat_id, answer.message_id, locale="de")
    await rig.delivery.deliver_voice(voice_note(rig, target, 3.0, PAUSED))
    (voice,) = rig.tg.sent(GROUP, "sendVoice")
    german = shipped_catalogs().lines("de").say(PAUSED)
    assert german != PAUSED and voice.caption == german


async def test_a_voice_answer_to_a_user_who_blocked_the_bot_is_dropped_with_telegram_s_reason(
    rig: Rig,
) -> None:
    target = rig.answer_in(GROUP)
    rig.tg.block(GROUP)
    with pytest.raises(PermanentDeliveryError, match="blocked by the user"):
        await rig.delivery.deliver_voice(voice_note(rig, target, 1.0))
    assert rig.tg.sent(GROUP, "sendVoice") == []
