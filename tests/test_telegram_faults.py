"""Telegram faults: an answer the model wrote always reaches the chat, whatever showing it costs.

The wired bot, the real PTB, and fake Telegram, Groq and D-ID servers, as in test_telegram.py.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from telegram import Bot

from adapters.telegram.answer_parts import NOT_SHOWN
from adapters.telegram.handlers import OOPS
from bot.storage import open_storage
from tests.fakes.did import FakeDID
from tests.fakes.groq import FakeGroq, echo_reply
from tests.fakes.telegram import FakeTelegram, Sent
from tests.harness import running_bot, settings_for, telegram_at

ALICE, BOB, GROUP = 1001, 1002, -100500
GROQ_REPLY = "Hello from **Ava**. Nice to see you."
SHOWN = "Hello from <b>Ava</b>. Nice to see you."


@pytest.fixture
def settings(tmp_path: Path, groq: FakeGroq, did: FakeDID, tg: FakeTelegram) -> Any:
    return settings_for(tmp_path, groq, did, **telegram_at(tg))


@pytest.fixture
async def bot(settings: Any, tg: FakeTelegram) -> AsyncIterator[None]:
    async with running_bot(settings):
        await tg.wait_for(lambda: tg.calls("getUpdates"))
        yield


def texts(tg: FakeTelegram, chat: int) -> list[str]:
    return [s.text or "" for s in tg.sent(chat, "sendMessage")]


def answers(tg: FakeTelegram, chat: int) -> list[Sent]:
    return [s for s in tg.sent(chat, "sendMessage") if s.parse_mode == "HTML"]


async def test_a_429_on_a_draft_costs_neither_the_answer_nor_its_history(
    tg: FakeTelegram, groq: FakeGroq, bot: None
) -> None:
    tg.fail_next("sendMessageDraft", 429, retry_after=30, chat_id=ALICE)
    gate = groq.hold(after_chunks=1)
    tg.push_text(ALICE, "hi")
    await tg.wait_for(lambda: tg.calls("sendMessageDraft"))
    gate.set()
    groq.stop_holding()
    # Shown at once: the 30 s hint pauses the drafts, never the answer.
    await tg.wait_for(lambda: answers(tg, ALICE))
    assert texts(tg, ALICE) == [SHOWN]
    assert len(tg.calls("sendMessageDraft")) == 1  # no draft inside the 429's window
    tg.push_text(ALICE, "and again?")
    await tg.wait_for(lambda: len(answers(tg, ALICE)) == 2)
    history = [m["content"] for m in groq.chat_bodies[-1]["messages"][1:]]
    assert history == ["hi", GROQ_REPLY, "and again?"]
    assert OOPS not in texts(tg, ALICE)


async def test_a_server_without_drafts_streams_by_edits_and_is_not_asked_again(
    tmp_path: Path, groq: FakeGroq, did: FakeDID
) -> None:
    # A self-hosted telegram-bot-api older than Bot API 9.3 answers 404 "Not Found".
    async with FakeTelegram(without={"sendMessageDraft"}) as tg:
        async with running_bot(settings_for(tmp_path, groq, did, **telegram_at(tg))):
            tg.push_text(ALICE, "hi")
            await tg.wait_for(lambda: tg.sent(ALICE, "editMessageText"))
            tg.push_text(ALICE, "and you?")
            await tg.wait_for(lambda: len(tg.sent(ALICE, "editMessageText")) == 2)
    assert len(tg.calls("sendMessageDraft")) == 1  # learned once for the process
    first = tg.sent(ALICE, "sendMessage")[0]
    final = tg.sent(ALICE, "editMessageText")[0]
    assert first.parse_mode is None  # streamed as plain text
    assert (final.message_id, final.parse_mode, final.text) == (first.message_id, "HTML", SHOWN)
    assert OOPS not in texts(tg, ALICE)


async def test_a_refused_final_edit_is_sent_as_a_new_message(
    tmp_path: Path, groq: FakeGroq, did: FakeDID
) -> None:
    async with FakeTelegram(without={"sendMessageDraft"}) as tg:
        async with running_bot(settings_for(tmp_path, groq, did, **telegram_at(tg))):
            gate = groq.hold(after_chunks=2)
            tg.push_text(ALICE, "hi")
            (streamed,) = await tg.wait_for_sent(ALICE, "sendMessage")
            tg.fail_next(
                "editMessageText", 400, description="Bad Request: message can't be edited", times=9
            )
            gate.set()
            await tg.wait_for(lambda: answers(tg, ALICE))
            await tg.wait_for(lambda: tg.sent(ALICE, "deleteMessage"))
    assert answers(tg, ALICE)[0].text == SHOWN
    # The half-streamed message is taken away: the answer shows once.
    assert tg.message(ALICE, streamed.message_id or 0) is None


@pytest.mark.parametrize(
    ("fault", "shown"),
    [
        ({"status": 502, "times": 2}, SHOWN),  # retried
        ({"status": 429, "retry_after": 1}, SHOWN),  # Telegram's wait honoured
        ({"status": 400, "description": "Bad Request: entity too long"}, GROQ_REPLY),  # plain
    ],
)
async def test_the_final_message_gets_through_faults(
    tg: FakeTelegram, bot: None, fault: dict[str, Any], shown: str
) -> None:
    tg.fail_next("sendMessage", chat_id=ALICE, **fault)
    tg.push_text(ALICE, "hi")
    await tg.wait_for(lambda: tg.sent(ALICE, "sendMessage"), timeout=10)
    assert texts(tg, ALICE) == [shown]


async def test_an_answer_telegram_refuses_twice_gets_one_clear_line(
    tg: FakeTelegram, bot: None
) -> None:
    tg.fail_next("sendMessage", 400, description="Bad Request: message is too long", times=2)
    tg.push_text(ALICE, "hi")
    await tg.wait_for(lambda: tg.sent(ALICE, "sendMessage"))
    assert texts(tg, ALICE) == [f"⚠️ {NOT_SHOWN}"]
    assert len(tg.calls("sendMessage")) == 3  # formatted, plain, then the line


async def test_a_group_that_denies_videos_is_told_once_and_not_rendered_for(
    tg: FakeTelegram, did: FakeDID, bot: None
) -> None:
    tg.set_permissions(GROUP, can_send_videos=False)
    tg.push_mention(GROUP, "first", user_id=ALICE)
    await tg.wait_for(lambda: any("can't send videos" in t for t in texts(tg, GROUP)))
    tg.push_mention(GROUP, "second", user_id=BOB)
    await tg.wait_for(lambda: len(answers(tg, GROUP)) == 2)
    told = [t for t in texts(tg, GROUP) if "can't send videos" in t]
    assert told == [
        "🎬 I can't send videos in this chat: its permissions don't allow me to "
        "(an admin can change that, or /avatar off stops them)."
    ]
    assert len(tg.calls("sendVideo")) == 1  # not retried
    assert len(did.talks) == 1  # no render for a chat that cannot show it


async def test_two_users_in_a_group_share_its_history(
    tg: FakeTelegram, groq: FakeGroq, bot: None
) -> None:
    tg.push_mention(GROUP, "my name is Alice", user_id=ALICE)
    await tg.wait_for(lambda: len(answers(tg, GROUP)) == 1)
    tg.push_mention(GROUP, "what is her name?", user_id=BOB)
    await tg.wait_for(lambda: len(answers(tg, GROUP)) == 2)
    history = [m["content"] for m in groq.chat_bodies[-1]["messages"][1:]]
    assert history == ["my name is Alice", GROQ_REPLY, "what is her name?"]


def job_states(settings: Any) -> list[str]:
    with sqlite3.connect(settings.DATABASE_PATH) as db:
        return [row[0] for row in db.execute("SELECT state FROM avatar_jobs ORDER BY id")]


async def until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    """Poll a condition the fakes cannot signal (a database row) with a deadline."""
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 (a row cannot be awaited)
            await asyncio.sleep(0.02)


async def test_a_video_for_a_user_who_blocked_the_bot_is_not_retried(
    tg: FakeTelegram, did: FakeDID, bot: None, settings: Any
) -> None:
    did.hold_renders = True
    tg.push_text(ALICE, "hi")
    await did.wait_for(lambda: len(did.talks) == 1)
    tg.block(ALICE)
    did.release_all()
    await until(lambda: job_states(settings) == ["failed"])
    assert len(tg.calls("sendVideo")) == 1
    assert not tg.sent(ALICE, "sendVideo") and len(tg.calls("sendMessage")) == 1


async def test_polling_removes_a_webhook_left_behind_and_keeps_its_updates(
    tg: FakeTelegram, settings: Any
) -> None:
    async with Bot(tg.token, base_url=f"{tg.base_url}/bot") as other_run:
        await other_run.set_webhook("https://bot.example.com/hook")
    tg.push_text(ALICE, "sent while the webhook was set")
    async with running_bot(settings):
        await tg.wait_for(lambda: answers(tg, ALICE))
    methods = [r.api_method for r in tg.requests if r.api_method in ("deleteWebhook", "getUpdates")]
    assert methods[0] == "deleteWebhook"  # before the first getUpdates, which then works
    assert not tg.calls("deleteWebhook")[0].params.get("drop_pending_updates")
    assert tg.webhook is None


async def test_updates_are_confirmed_only_once_recorded_in_the_inbox(
    tg: FakeTelegram, bot: None, settings: Any
) -> None:
    def recorded() -> set[int]:
        with sqlite3.connect(settings.DATABASE_PATH) as db:
            rows = db.execute("SELECT message_key FROM inbox WHERE platform = 'telegram'")
            return {int(row[0]) for row in rows}

    pushed: list[dict[str, Any]] = []
    unrecorded_when_confirmed: list[int] = []

    def check(params: dict[str, Any]) -> None:
        # A getUpdates offset confirms every update before it: each must be in the inbox.
        offset = int(params.get("offset") or 0)
        unrecorded_when_confirmed.extend(
            u["update_id"]
            for u in pushed
            if u["update_id"] < offset and u["update_id"] not in recorded()
        )

    tg.observe("getUpdates", check)
    # The test holds the database's write lock: recording waits, then fails.
    lock = sqlite3.connect(settings.DATABASE_PATH, timeout=0.1, isolation_level=None)
    try:
        lock.execute("BEGIN IMMEDIATE")
        polls = len(tg.calls("getUpdates"))
        pushed.append(tg.push_text(ALICE, "hello"))
        await tg.wait_for(lambda: len(tg.calls("getUpdates")) > polls + 1, timeout=20)
        again = tg.calls("getUpdates")[polls + 1]
        assert int(again.params.get("offset") or 0) <= pushed[0]["update_id"]  # not confirmed
    finally:
        lock.rollback()
        lock.close()
    await tg.wait_for(lambda: answers(tg, ALICE), timeout=20)
    pushed.append(tg.push_text(ALICE, "and now?"))
    await tg.wait_for(lambda: len(answers(tg, ALICE)) == 2)
    await tg.wait_for(
        lambda: any(
            int(r.params.get("offset") or 0) > pushed[1]["update_id"]
            for r in tg.calls("getUpdates")
        )
    )
    assert unrecorded_when_confirmed == []
    assert len(answers(tg, ALICE)) == 2  # the first message was not lost, nor answered twice


def inbox_states(settings: Any) -> list[str]:
    with sqlite3.connect(settings.DATABASE_PATH) as db:
        return [row[0] for row in db.execute("SELECT state FROM inbox ORDER BY id")]


async def test_a_chat_that_blocked_the_bot_is_asked_nothing_more_and_gets_no_render(
    tg: FakeTelegram, did: FakeDID, bot: None, settings: Any
) -> None:
    tg.block(ALICE)  # a user who blocked the bot
    tg.block(GROUP)  # a group that removed it
    tg.push_text(ALICE, "hi")
    tg.push_mention(GROUP, "hi", user_id=BOB)
    await until(lambda: inbox_states(settings) == ["answered", "answered"])

    def tried(chat: int) -> list[str]:
        return [r.api_method or "" for r in tg.requests if r.params.get("chat_id") == chat]

    assert tried(ALICE) == ["sendMessageDraft"]  # refused: no final text, no retries
    assert tried(GROUP) == ["sendMessage"]
    assert did.talks == {}


async def test_a_voice_note_telegram_will_not_hand_over_gets_one_line(
    tg: FakeTelegram, groq: FakeGroq, bot: None
) -> None:
    tg.fail_next("getFile", 400, description="Bad Request: wrong file identifier")
    tg.push_voice(ALICE, b"OggS" + bytes(64))
    await tg.wait_for(lambda: tg.sent(ALICE, "sendMessage"))
    assert texts(tg, ALICE) == [f"⚠️ {OOPS}"]
    tg.push_text(ALICE, "still there?")
    await tg.wait_for(lambda: answers(tg, ALICE))
    assert not groq.calls("/audio/transcriptions")


async def test_a_long_transcript_leaves_room_for_the_answer_and_for_a_failure_line(
    tg: FakeTelegram, groq: FakeGroq, bot: None
) -> None:
    voice = (Path(__file__).parent / "data" / "voice.ogg").read_bytes()
    groq.transcript = "word " * 790  # minutes of speech, just under the model's 4000 characters
    tg.push_voice(ALICE, voice)
    await tg.wait_for(lambda: answers(tg, ALICE))
    groq.transcript = "word " * 900  # over them
    tg.push_voice(ALICE, voice)
    await tg.wait_for(lambda: len(texts(tg, ALICE)) >= 2)
    answer, failure = texts(tg, ALICE)
    assert answer.startswith("🎤 <i>word word") and answer.endswith(SHOWN)  # in one message
    assert failure.startswith("🎤 word") and "⚠️ That's too long for me" in failure


async def test_an_answer_shown_is_not_shown_again_when_a_stop_cuts_its_voice_note(
    tmp_path: Path, groq: FakeGroq, tg: FakeTelegram
) -> None:
    async def voice(key: object) -> str:
        return "voice"

    config = settings_for(
        tmp_path, groq, None, **telegram_at(tg), TTS_ENABLED=True, SHUTDOWN_GRACE_SECONDS=0
    )
    groq.reply = echo_reply
    async with running_bot(config, voice):
        await groq.wait_for(lambda: bool(groq.speech_bodies(checks=True)))  # the start's check
        groq.delay_next("audio/speech", 60)  # the answer's voice note outlasts the stop
        tg.push_text(ALICE, "hello")
        await groq.wait_for(lambda: bool(groq.speech_bodies()))
    assert texts(tg, ALICE) == ["You said: hello"]
    async with running_bot(config, voice):  # as after a crash: nothing the stop cut was marked
        tg.push_text(ALICE, "again")
        await tg.wait_for(lambda: "You said: again" in texts(tg, ALICE))
        await tg.wait_for_sent(ALICE, "sendVoice")
    assert texts(tg, ALICE) == ["You said: hello", "You said: again"]  # each answer once


async def test_an_answer_outlasting_telegram_s_5xx_is_shown_once_when_it_recovers(
    tg: FakeTelegram, groq: FakeGroq, bot: None
) -> None:
    groq.reply = "\n\n".join(f"Part {n}. " + "word " * 300 for n in range(4))  # two messages
    # The first goes; the second meets more 502s than one call retries (PTB raises
    # NetworkError for Telegram's 5xx pages), then Telegram is back.
    tg.fail_next("sendMessage", 502, times=6, after=1)
    tg.push_mention(GROUP, "tell me everything")
    await tg.wait_for_sent(GROUP, "sendVideo", timeout=20)
    starts = [(s.text or "")[:6] for s in tg.sent(GROUP, "sendMessage")]
    assert starts == ["Part 0", "Part 2"]  # each part once, in order


async def test_an_answer_for_a_closed_topic_costs_no_video_and_holds_up_nothing(
    tg: FakeTelegram, did: FakeDID, bot: None
) -> None:
    tg.push_mention(GROUP, "hello", message_thread_id=11)
    tg.close_topic(GROUP, 11)  # before the answer comes
    tg.push_mention(GROUP, "and here?", message_thread_id=12)
    await tg.wait_for_sent(GROUP, "sendVideo", timeout=10)
    assert [s.thread_id for s in tg.sent(GROUP, "sendMessage")] == [12]
    assert len(did.calls("/talks", "POST")) == 1  # none for the answer nobody could see


async def test_a_video_for_a_topic_closed_while_it_rendered_is_not_retried(
    tg: FakeTelegram, did: FakeDID, settings: Any, bot: None
) -> None:
    did.hold_renders = True
    tg.push_mention(GROUP, "hello", message_thread_id=11)
    await did.wait_for(lambda: len(did.talks) == 1)
    tg.close_topic(GROUP, 11)
    did.release_all()
    storage = await open_storage(settings.database_url)
    try:
        async with asyncio.timeout(10):
            # The job table has no change notification: poll it, within the deadline.
            while await storage.jobs.unfinished():  # noqa: ASYNC110
                await asyncio.sleep(0.02)
    finally:
        await storage.close()
    assert len(tg.calls("sendVideo")) == 1  # refused for good, not tried again


async def test_telegram_s_html_502_pages_on_polling_and_sending_are_survived(
    tg: FakeTelegram, settings: Any
) -> None:
    tg.fail_next("getUpdates", 502)  # nginx's page, not JSON: PTB's parsing fails first
    tg.fail_next("sendMessage", 504)
    tg.push_text(ALICE, "hi")
    async with running_bot(settings):
        await tg.wait_for(lambda: answers(tg, ALICE), timeout=10)
    assert texts(tg, ALICE) == [SHOWN]


async def test_429s_on_edits_and_on_the_video_are_waited_out_and_nothing_goes_twice(
    tmp_path: Path, groq: FakeGroq, did: FakeDID
) -> None:
    async with FakeTelegram(without={"sendMessageDraft"}) as tg:  # answers stream by edits
        async with running_bot(settings_for(tmp_path, groq, did, **telegram_at(tg))):
            gate = groq.hold(after_chunks=2)
            tg.push_text(ALICE, "hi")
            await tg.wait_for_sent(ALICE, "sendMessage")  # the streamed message
            # Telegram's flood control on the final edit and on the upload: "retry after 1".
            tg.fail_next("editMessageText", 429, retry_after=1, chat_id=ALICE)
            tg.fail_next("sendVideo", 429, retry_after=1, chat_id=ALICE)
            gate.set()
            groq.stop_holding()
            await tg.wait_for_sent(ALICE, "sendVideo", timeout=10)
    assert len(tg.sent(ALICE, "sendMessage")) == 1 and len(tg.sent(ALICE, "sendVideo")) == 1
    (streamed,) = tg.sent(ALICE, "sendMessage")
    assert (tg.message(ALICE, streamed.message_id or 0) or {}).get("text") == GROQ_REPLY.replace(
        "**", ""
    )


async def test_an_answer_for_a_group_that_became_a_supergroup_goes_to_the_supergroup(
    tg: FakeTelegram, groq: FakeGroq, did: FakeDID, bot: None
) -> None:
    supergroup = -1001234567890
    gate = groq.hold()
    tg.push_mention(GROUP, "hello")
    await groq.wait_for(lambda: len(groq.chat_bodies) == 1)
    tg.migrate(GROUP, supergroup)  # an admin turned on a supergroup feature meanwhile
    gate.set()
    groq.stop_holding()
    await tg.wait_for_sent(supergroup, "sendVideo", timeout=10)
    assert [s.text for s in tg.sent(supergroup, "sendMessage")] == [SHOWN]


async def test_a_video_for_a_group_that_became_a_supergroup_while_it_rendered_goes_there(
    tg: FakeTelegram, did: FakeDID, bot: None
) -> None:
    supergroup = -1001234567891
    did.hold_renders = True
    tg.push_mention(GROUP, "hello")
    await did.wait_for(lambda: len(did.talks) == 1)
    tg.migrate(GROUP, supergroup)
    did.release_all()
    (video,) = await tg.wait_for_sent(supergroup, "sendVideo", timeout=10)
    (answer,) = tg.sent(GROUP, "sendMessage")
    assert video.reply_to == answer.message_id  # its answer moved along with the group


async def test_an_answer_telegram_is_slow_to_confirm_is_not_sent_twice(
    tg: FakeTelegram, bot: None
) -> None:
    # Past PTB's 5-second read timeout: Telegram carries the call out all the same (the fake
    # too), so sending it again would show the answer twice.
    tg.delay_next("sendMessage", 6.0)
    tg.push_mention(GROUP, "hi")
    await tg.wait_for_sent(GROUP, "sendVideo", timeout=15)
    assert len(tg.calls("sendMessage")) == 1
    assert [s.text for s in tg.sent(GROUP, "sendMessage")] == [SHOWN]


async def test_an_answer_to_a_message_its_user_deleted_arrives_on_its_own(
    tg: FakeTelegram, groq: FakeGroq, bot: None
) -> None:
    gate = groq.hold()
    asked = tg.push_mention(GROUP, "hello")["message"]
    await groq.wait_for(lambda: len(groq.chat_bodies) == 1)
    tg.user_deletes(GROUP, asked["message_id"])
    gate.set()
    groq.stop_holding()
    (video,) = await tg.wait_for_sent(GROUP, "sendVideo", timeout=10)
    (answer,) = tg.sent(GROUP, "sendMessage")
    assert (answer.text, answer.reply_to) == (SHOWN, None)
    assert video.reply_to == answer.message_id
