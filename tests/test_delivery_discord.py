"""DiscordDelivery driven directly: a real discord.py Client against the fake Discord, with no
bot around it. Which way the video goes (the interaction's webhook or the channel), what goes
with it, and how each refusal ends."""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

with warnings.catch_warnings():  # discord.py imports audioop, deprecated since Python 3.11
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import discord
    from discord import app_commands

from adapters.discord.convert import Target
from adapters.discord.delivery import (
    NO_ATTACH,
    NOTICE_INTERVAL,
    ChannelNotices,
    DiscordDelivery,
    MissingPermissions,
)
from core.avatar.jobs import PermanentDeliveryError
from core.avatar.video import FAILED
from core.i18n import shipped_catalogs
from core.types import AvatarFailed, AvatarJob, ConversationKey, JobState, ScriptKind, VideoReady
from tests.fakes.discord import ATTACH_FILES, GUILD_ID, TEXT_CHANNEL_ID, FakeDiscord, Sent

MB = 1024 * 1024
GUILD = discord.Object(GUILD_ID)
NO_PINGS: dict[str, list[str]] = {"parse": []}  # discord.AllowedMentions.none() on the wire
TRUNCATED = "🎬 The video says the start: the rest of the answer is in the text above."
SUMMED_UP = "🎬 The video sums up the answer: the whole of it is in the text above."


class Client(discord.Client):
    """A client whose /talk defers its response; the delivery sends what follows."""

    def __init__(self) -> None:
        super().__init__(intents=discord.Intents.default(), guild_ready_timeout=0.05)
        self.ready = asyncio.Event()
        self.tree = app_commands.CommandTree(self)

        @self.tree.command(name="talk", description="Talk to the avatar", guild=GUILD)
        async def talk(interaction: discord.Interaction, text: str) -> None:
            await interaction.response.defer()

    async def setup_hook(self) -> None:
        await self.tree.sync(guild=GUILD)

    async def on_ready(self) -> None:
        self.ready.set()


class Rig:
    def __init__(self, fake: FakeDiscord, client: Client, tmp_path: Path) -> None:
        self.fake, self.client, self.tmp_path = fake, client, tmp_path
        self.notices = ChannelNotices()
        self.delivery = DiscordDelivery(lambda: client, self.notices)

    async def answer(self, **target: object) -> Target:
        """The bot's text answer in the channel, which the video replies to."""
        channel = self.client.get_channel(TEXT_CHANNEL_ID)
        assert isinstance(channel, discord.TextChannel)
        message = await channel.send("the answer")
        return Target(TEXT_CHANNEL_ID, message.id, **target)  # type: ignore[arg-type]

    async def interaction(self) -> Target:
        """A /talk whose response was deferred: its webhook takes follow-ups for 15 minutes."""
        pushed = await self.fake.push_interaction("talk", {"text": "hi"})
        await self.fake.wait_for(lambda: self.fake.interaction_responses(pushed.id))
        target = await self.answer(
            application_id=self.fake.application_id,
            token=pushed.token,
            expires_at=time.time() + 15 * 60,
        )
        return target

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
            file.truncate(size)  # only its size matters until it is sent
        return VideoReady(replace(job(target, job_id, truncated), script_kind=kind), path)

    def videos(self) -> list[Sent]:
        return [s for s in self.fake.sent(TEXT_CHANNEL_ID) if s.files]

    def notes(self) -> list[str | None]:
        return [
            s.content
            for s in self.fake.sent(TEXT_CHANNEL_ID)
            if s.kind in ("message", "followup") and not s.files and s.content != "the answer"
        ]


def job(target: Target, job_id: int = 7, truncated: bool = False) -> AvatarJob:
    key = ConversationKey("discord", str(target.channel_id))
    return AvatarJob(job_id, key, "hi", target.dump(), JobState.RENDERED, truncated=truncated)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with FakeDiscord() as fake:
        with fake.patch_discord():
            client = Client()
            task = asyncio.create_task(client.start(fake.token), name="discord-client")
            try:
                async with asyncio.timeout(5):
                    await client.ready.wait()
                yield Rig(fake, client, tmp_path)
            finally:
                await client.close()
                await task


async def test_without_an_interaction_the_video_replies_in_the_channel(rig: Rig) -> None:
    target = await rig.answer()
    await rig.delivery.deliver_video(rig.ready(target, 1000, job_id=42))
    (video,) = rig.videos()
    assert (video.kind, video.content, video.allowed_mentions) == ("message", None, NO_PINGS)
    assert [(f.filename, len(f.data)) for f in video.files] == [("avatar-42.mp4", 1000)]
    assert video.message_reference is not None
    assert int(video.message_reference["message_id"]) == target.message_id
    assert int(video.message_reference["channel_id"]) == TEXT_CHANNEL_ID
    assert video.message_reference["fail_if_not_exists"] is False
    # The channel was in the client's cache: it is not fetched again.
    assert rig.fake.calls(f"/channels/{TEXT_CHANNEL_ID}", "GET") == []


async def test_a_video_that_says_only_the_start_is_captioned_so(rig: Rig) -> None:
    await rig.delivery.deliver_video(rig.ready(await rig.answer(), 10, truncated=True))
    (video,) = rig.videos()
    assert video.content == TRUNCATED


async def test_a_video_that_sums_up_the_answer_is_captioned_so(rig: Rig) -> None:
    target = await rig.answer()
    await rig.delivery.deliver_video(rig.ready(target, 10, truncated=True, kind="summary"))
    (video,) = rig.videos()
    assert video.content == SUMMED_UP


async def test_while_the_interaction_lives_the_video_is_its_follow_up(rig: Rig) -> None:
    target = await rig.interaction()
    await rig.delivery.deliver_video(rig.ready(target, 10, truncated=True))
    (video,) = rig.videos()
    assert (video.kind, video.content, video.allowed_mentions) == (
        "followup",
        TRUNCATED,
        NO_PINGS,
    )
    # Without wait=true Discord reports no error for a follow-up it did not save.
    (followup,) = rig.fake.calls("/webhooks/{application_id}/{token}", "POST")
    assert followup.query.get("wait", "").lower() in ("1", "true")
    await rig.delivery.deliver_failure(AvatarFailed(job(target), "No video this time."))
    assert [(s.kind, s.content) for s in rig.fake.sent(TEXT_CHANNEL_ID)][-1] == (
        "followup",
        "🎬 No video this time.",
    )


@pytest.mark.parametrize(("left", "kind"), [(30.0, "message"), (120.0, "followup")])
async def test_a_token_within_a_minute_of_its_end_is_not_used(
    rig: Rig, left: float, kind: str
) -> None:
    live = await rig.interaction()
    target = Target(
        live.channel_id, live.message_id, application_id=live.application_id,
        token=live.token, expires_at=time.time() + left,
    )  # fmt: skip
    await rig.delivery.deliver_video(rig.ready(target, 10))
    assert [video.kind for video in rig.videos()] == [kind]


@pytest.mark.parametrize("missing", ["token", "application_id"])
async def test_without_a_token_or_an_application_the_channel_is_used(
    rig: Rig, missing: str
) -> None:
    live = await rig.interaction()
    target = replace(live, token=None) if missing == "token" else replace(live, application_id=None)
    await rig.delivery.deliver_video(rig.ready(target, 10))
    assert [video.kind for video in rig.videos()] == ["message"]


async def test_a_webhook_that_is_gone_falls_back_to_the_channel(rig: Rig) -> None:
    target = await rig.interaction()
    assert target.token is not None
    rig.fake.expire_token(target.token)  # Discord answers 401 50027
    await rig.delivery.deliver_video(rig.ready(target, 10))
    assert [video.kind for video in rig.videos()] == ["message"]


async def test_another_webhook_error_is_raised(rig: Rig) -> None:
    target = await rig.interaction()
    rig.fake.fail_next("/webhooks/{application_id}/{token}", 400, code=50035, message="Invalid")
    with pytest.raises(discord.HTTPException) as raised:
        await rig.delivery.deliver_video(rig.ready(target, 10))
    assert not isinstance(raised.value, PermanentDeliveryError | discord.Forbidden)
    assert rig.videos() == []


@pytest.mark.parametrize(
    ("limit", "size", "note"),
    [
        (8 * MB, 8 * MB, None),
        (8 * MB, 8 * MB + 1, "🎬 The avatar video is over this place's 8 MB limit."),
        (25 * MB, 25 * MB + 1, "🎬 The avatar video is over this place's 25 MB limit."),
    ],
)
async def test_a_video_over_the_places_limit_gets_a_note_instead(
    rig: Rig, limit: int, size: int, note: str | None
) -> None:
    target = await rig.answer(filesize_limit=limit)
    await rig.delivery.deliver_video(rig.ready(target, size))
    if note is None:
        assert (len(rig.videos()), rig.notes()) == (1, [])
    else:
        assert (rig.videos(), rig.notes()) == ([], [note])


async def test_a_channel_without_attach_files_hears_why_once_and_every_video_is_dropped(
    rig: Rig,
) -> None:
    target = await rig.answer()
    await rig.fake.deny(TEXT_CHANNEL_ID, ATTACH_FILES)
    for job_id in (1, 2):
        with pytest.raises(MissingPermissions, match="403 50013: Missing Permissions"):
            await rig.delivery.deliver_video(rig.ready(target, 10, job_id=job_id))
        assert (rig.videos(), rig.notes()) == ([], [f"🎬 {NO_ATTACH}"])  # told at the first refusal


async def test_a_channel_that_refuses_even_the_note_drops_the_video_quietly(rig: Rig) -> None:
    target = await rig.answer()
    rig.fake.forbid(TEXT_CHANNEL_ID)  # every channel route answers 403 50013
    with pytest.raises(MissingPermissions):
        await rig.delivery.deliver_video(rig.ready(target, 10))
    assert not rig.notices.due(TEXT_CHANNEL_ID)  # it was due, and counted as told


async def test_a_channel_that_is_gone_is_permanent_but_no_missing_permission(rig: Rig) -> None:
    target = await rig.answer()
    gone = Target(1_100_000_000_000_009_999, target.message_id)
    with pytest.raises(PermanentDeliveryError, match="404 10003") as raised:
        await rig.delivery.deliver_video(rig.ready(gone, 10))
    assert not isinstance(raised.value, MissingPermissions)
    assert rig.notes() == []


async def test_a_failure_is_one_line_in_the_channel(rig: Rig) -> None:
    target = await rig.answer()
    await rig.delivery.deliver_failure(AvatarFailed(job(target), "The video could not be made."))
    (note,) = [s for s in rig.fake.sent(TEXT_CHANNEL_ID) if s.content != "the answer"]
    assert (note.kind, note.content, note.allowed_mentions) == (
        "message",
        "🎬 The video could not be made.",
        NO_PINGS,
    )
    assert note.message_reference is not None
    assert int(note.message_reference["message_id"]) == target.message_id


async def test_a_failure_is_said_in_the_language_the_answer_was_given_in(rig: Rig) -> None:
    target = await rig.answer(locale="es")
    await rig.delivery.deliver_failure(AvatarFailed(job(target), FAILED))
    (note,) = [s for s in rig.fake.sent(TEXT_CHANNEL_ID) if s.content != "the answer"]
    spanish = shipped_catalogs().lines("es").say(FAILED)
    assert spanish != FAILED and note.content == f"🎬 {spanish}"


def test_a_channel_hears_its_notice_once_per_interval() -> None:
    now = [0.0]
    notices = ChannelNotices(clock=lambda: now[0])
    assert notices.due(1)  # at time 0 too: never told before
    assert not notices.due(1) and notices.due(2)
    now[0] = NOTICE_INTERVAL - 0.001
    assert not notices.due(1)
    now[0] = NOTICE_INTERVAL
    assert notices.due(1)
    assert not notices.due(1)
