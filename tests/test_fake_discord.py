"""Self-test of FakeDiscord: a real discord.py Client with a CommandTree against the local fake."""

from __future__ import annotations

import asyncio
import io
import json
import warnings
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import aiohttp
import pytest

with warnings.catch_warnings():  # discord.py imports audioop, deprecated since Python 3.11
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import discord
    from discord import app_commands

from tests.fakes.discord import (
    ATTACH_FILES,
    BOT_ID,
    GUILD_ID,
    LOADING,
    TEXT_CHANNEL_ID,
    THREAD_ID,
    USER_ID,
    AttachmentSpec,
    FakeDiscord,
)

DATA = Path(__file__).parent / "data"
OGG = (DATA / "voice.ogg").read_bytes()
MP4 = (DATA / "avatar.mp4").read_bytes()
GUILD = discord.Object(GUILD_ID)
T = TypeVar("T")
Invocation = tuple[discord.Interaction, str | None, discord.Attachment | None]


class Bot(discord.Client):
    """A small bot: it queues what reaches it and answers @mentions from people with a reply."""

    def __init__(self, *, message_content: bool = True) -> None:
        intents = discord.Intents.default()
        intents.message_content = message_content
        # discord.py waits guild_ready_timeout after the last GUILD_CREATE before on_ready.
        super().__init__(intents=intents, guild_ready_timeout=0.05)
        self.tree = app_commands.CommandTree(self)
        self.messages: asyncio.Queue[discord.Message] = asyncio.Queue()
        self.own_messages: asyncio.Queue[discord.Message] = asyncio.Queue()  # Discord echoes them
        self.invocations: asyncio.Queue[Invocation] = asyncio.Queue()
        self.ready = asyncio.Event()
        self.resumed = asyncio.Event()

        @self.tree.command(name="talk", description="Talk to the avatar", guild=GUILD)
        async def talk(
            interaction: discord.Interaction,
            text: str | None = None,
            audio: discord.Attachment | None = None,
        ) -> None:
            await self.invocations.put((interaction, text, audio))

    async def setup_hook(self) -> None:
        await self.tree.sync(guild=GUILD)

    async def on_ready(self) -> None:
        self.ready.set()

    async def on_resumed(self) -> None:
        self.resumed.set()

    async def on_message(self, message: discord.Message) -> None:
        if message.author == self.user:
            await self.own_messages.put(message)
            return
        await self.messages.put(message)
        if not message.author.bot and self.user in message.mentions:
            nobody = discord.AllowedMentions(everyone=False, roles=False, users=[message.author])
            await message.reply(f"You said: {message.clean_content}", allowed_mentions=nobody)


class ShardedBot(discord.AutoShardedClient):
    """An AutoShardedClient, which asks GET /gateway/bot where to connect."""

    def __init__(self) -> None:
        super().__init__(intents=discord.Intents.default(), guild_ready_timeout=0.05)
        self.ready = asyncio.Event()

    async def on_ready(self) -> None:
        self.ready.set()


@asynccontextmanager
async def running(client: Bot | ShardedBot, fake: FakeDiscord) -> AsyncIterator[None]:
    """Start the client, wait for on_ready, and close it cleanly afterwards."""
    task = asyncio.create_task(client.start(fake.token), name="discord-client")
    waiter = asyncio.create_task(client.ready.wait(), name="wait-ready")
    try:
        done, _ = await asyncio.wait({task, waiter}, timeout=5, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            await task  # it failed to start: raise its error
        assert waiter in done, "the client never became ready"
        yield
    finally:
        waiter.cancel()
        await client.close()
        await task


async def next_item(queue: asyncio.Queue[T]) -> T:
    async with asyncio.timeout(5):
        return await queue.get()


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        with server.patch_discord():
            yield server


@pytest.fixture
async def bot(fake: FakeDiscord) -> AsyncIterator[Bot]:
    client = Bot()
    async with running(client, fake):
        yield client


def text_channel(bot: discord.Client) -> discord.TextChannel:
    channel = bot.get_channel(TEXT_CHANNEL_ID)
    assert isinstance(channel, discord.TextChannel)
    return channel


async def test_connects_identifies_and_sees_the_guild(bot: Bot, fake: FakeDiscord) -> None:
    assert fake.identify is not None and fake.identify["intents"] == bot.intents.value
    assert fake.identify["properties"]["browser"] == "discord.py"
    assert fake.gateway_query == {"v": "10", "encoding": "json", "compress": "zstd-stream"}
    assert bot.user is not None and (bot.user.id, bot.user.name, bot.user.bot) == (
        BOT_ID,
        "avatar",
        True,
    )
    assert bot.application_id == BOT_ID
    guild = bot.get_guild(GUILD_ID)
    assert guild is not None and not guild.unavailable and guild.me is not None
    assert text_channel(bot).name == "general"
    thread = guild.get_thread(THREAD_ID)
    assert thread is not None and thread.parent_id == TEXT_CHANNEL_ID
    assert fake.calls("/users/@me")[0].headers["Authorization"] == f"Bot {fake.token}"
    await fake.wait_for(lambda: fake.heartbeats >= 1)  # discord.py beats once right after HELLO
    # setup_hook synced the guild command tree: /talk with a STRING and an ATTACHMENT option.
    (talk,) = fake.commands[GUILD_ID]
    assert talk["name"] == "talk" and talk["guild_id"] == str(GUILD_ID)
    assert [(o["name"], o["type"], o["required"]) for o in talk["options"]] == [
        ("text", 3, False),
        ("audio", 11, False),
    ]
    (synced,) = await bot.tree.sync(guild=GUILD)  # a bulk overwrite keeps the command's id
    assert str(synced.id) == talk["id"] and len(fake.calls("/commands", "PUT")) == 2


async def test_mention_reaches_on_message_and_the_reply_is_recorded(
    bot: Bot, fake: FakeDiscord
) -> None:
    pushed = await fake.push_message(TEXT_CHANNEL_ID, f"{fake.bot_mention} hi @everyone")
    message = await next_item(bot.messages)
    assert message.id == int(pushed["id"]) and message.author.id == USER_ID
    assert bot.user in message.mentions and message.mention_everyone
    assert message.guild is not None and message.channel.id == TEXT_CHANNEL_ID

    (reply,) = await fake.wait_for(lambda: fake.sent(TEXT_CHANNEL_ID, "message"))
    assert reply.content == "You said: @Avatar hi @\u200beveryone"
    assert reply.message_reference is not None
    assert int(reply.message_reference["message_id"]) == message.id
    assert reply.allowed_mentions == {"parse": [], "users": [USER_ID], "replied_user": True}
    stored = fake.message(reply.message_id or 0)
    assert stored is not None and stored["type"] == 19 and not stored["mention_everyone"]
    assert [m["id"] for m in stored["mentions"]] == [str(USER_ID)]
    echo = await next_item(bot.own_messages)  # Discord sends the bot its own message too
    assert echo.author == bot.user and echo.reference is not None


async def test_message_content_intent_decides_what_the_bot_reads(fake: FakeDiscord) -> None:
    client = Bot(message_content=False)
    async with running(client, fake):
        await fake.push_message(TEXT_CHANNEL_ID, "just chatting")
        assert (await next_item(client.messages)).content == ""
        await fake.push_voice_message(TEXT_CHANNEL_ID, OGG)
        assert (await next_item(client.messages)).attachments == []
        await fake.push_message(TEXT_CHANNEL_ID, f"{fake.bot_mention} hello")
        assert (await next_item(client.messages)).content.endswith("hello")
        await fake.push_dm(USER_ID, "a private word")
        assert (await next_item(client.messages)).content == "a private word"


async def test_dm_and_thread_messages(bot: Bot, fake: FakeDiscord) -> None:
    await fake.push_dm(USER_ID, "hello in private")
    dm = await next_item(bot.messages)
    assert isinstance(dm.channel, discord.DMChannel) and dm.guild is None
    await dm.channel.send("hello back")
    sent_dm = await dm.author.send("and again")  # opens the DM through POST /users/@me/channels
    assert sent_dm.channel.id == dm.channel.id
    assert [s.content for s in fake.sent(dm.channel.id)] == ["hello back", "and again"]

    await fake.push_message(THREAD_ID, "in a thread")
    in_thread = await next_item(bot.messages)
    assert isinstance(in_thread.channel, discord.Thread)
    assert in_thread.channel.parent_id == TEXT_CHANNEL_ID


async def test_uploads_edits_typing_and_attachment_download(bot: Bot, fake: FakeDiscord) -> None:
    channel = text_channel(bot)
    await channel.typing()
    message = await channel.send("your video", file=discord.File(io.BytesIO(MP4), "avatar.mp4"))
    upload = fake.calls("/messages", "POST")[-1]
    assert upload.form is not None and "payload_json" in upload.form
    sent = fake.sent(TEXT_CHANNEL_ID, "message")[-1]
    assert [(f.field, f.filename, f.data) for f in sent.files] == [("files[0]", "avatar.mp4", MP4)]
    (attachment,) = message.attachments
    assert (attachment.filename, attachment.size, attachment.content_type) == (
        "avatar.mp4",
        len(MP4),
        "video/mp4",
    )
    assert await attachment.read() == MP4

    voice = discord.File(io.BytesIO(OGG), "voice.ogg")
    edited = await message.edit(content="edited", attachments=[*message.attachments, voice])
    assert edited.edited_at is not None and edited.attachments[0] == attachment
    assert await edited.attachments[1].read() == OGG
    assert [s.kind for s in fake.sent(TEXT_CHANNEL_ID)] == ["typing", "message", "edit"]
    stored = fake.message(message.id)
    assert stored is not None and stored["content"] == "edited"
    await message.delete()
    assert fake.message(message.id) is None


async def test_slash_command_defer_edit_and_followup(bot: Bot, fake: FakeDiscord) -> None:
    question = AttachmentSpec("question.ogg", OGG)
    pushed = await fake.push_interaction("talk", {"text": "hello", "audio": question})
    interaction, text, audio = await next_item(bot.invocations)
    assert interaction.id == pushed.id and interaction.guild_id == GUILD_ID
    assert text == "hello" and audio is not None
    assert (audio.filename, audio.content_type) == ("question.ogg", "audio/ogg")
    assert await audio.read() == OGG

    await interaction.response.defer(thinking=True)
    await interaction.edit_original_response(content="Hello! Your video is on its way.")
    video = await interaction.followup.send(
        file=discord.File(io.BytesIO(MP4), "avatar.mp4"), wait=True
    )
    assert video.attachments[0].filename == "avatar.mp4"
    original = await interaction.original_response()
    assert original.content == "Hello! Your video is on its way."

    callback, edit, followup = fake.interaction_responses(pushed.id)
    assert (callback.kind, callback.response_type, callback.flags) == ("callback", 5, LOADING)
    assert (edit.kind, edit.content) == ("edit_original", "Hello! Your video is on its way.")
    assert (followup.kind, followup.files[0].data) == ("followup", MP4)
    stored = fake.message(original.id)
    assert stored is not None and not stored["flags"] & LOADING

    with pytest.raises(discord.InteractionResponded):
        await interaction.response.send_message("again")
    async with aiohttp.ClientSession() as http:  # Discord refuses a second response too
        url = f"{fake.api_url}/interactions/{pushed.id}/{pushed.token}/callback"
        async with http.post(url, json={"type": 4, "data": {"content": "again"}}) as resp:
            assert resp.status == 400
            assert await resp.json() == {
                "message": "Interaction has already been acknowledged.",
                "code": 40060,
            }


async def test_late_response_and_expired_token(bot: Bot, fake: FakeDiscord) -> None:
    fake.response_deadline = 0.0  # the 3 s window has already passed
    await fake.push_interaction("talk", {"text": "too late"})
    interaction, _, _ = await next_item(bot.invocations)
    with pytest.raises(discord.NotFound) as late:
        await interaction.response.defer(thinking=True)
    assert (late.value.code, late.value.text) == (10062, "Unknown interaction")

    fake.response_deadline = 3.0
    pushed = await fake.push_interaction("talk")
    interaction, _, _ = await next_item(bot.invocations)
    await interaction.response.defer(thinking=True)
    fake.expire_token(pushed.token)  # 15 minutes later
    with pytest.raises(discord.HTTPException) as expired:
        await interaction.edit_original_response(content="finally")
    assert (expired.value.status, expired.value.code) == (401, 50027)
    with pytest.raises(LookupError):
        await fake.push_interaction("unknown")


async def test_rate_limits_are_retried_and_errors_have_discord_shape(
    bot: Bot, fake: FakeDiscord
) -> None:
    channel = text_channel(bot)
    fake.fail_next("/channels/{channel_id}/messages", 429, retry_after=0.01)
    await channel.send("after a 429")
    assert [r.method for r in fake.calls(f"/channels/{TEXT_CHANNEL_ID}/messages")] == ["POST"] * 2
    assert len(fake.sent(TEXT_CHANNEL_ID, "message")) == 1

    fake.fail_next("/callback", 429, retry_after=0.01)  # the webhook adapter retries too
    pushed = await fake.push_interaction("talk")
    interaction, _, _ = await next_item(bot.invocations)
    await interaction.response.defer()
    assert len(fake.calls(f"/interactions/{pushed.id}/{pushed.token}/callback")) == 2

    with pytest.raises(discord.HTTPException) as too_long:
        await channel.send("x" * 2001)
    assert (too_long.value.status, too_long.value.code) == (400, 50035)
    fake.forbid(TEXT_CHANNEL_ID)
    with pytest.raises(discord.Forbidden) as forbidden:
        await channel.send("hello?")
    assert (forbidden.value.code, forbidden.value.text) == (50013, "Missing Permissions")

    async with aiohttp.ClientSession() as http:
        async with http.get(f"{fake.api_url}/users/@me") as resp:  # no Authorization header
            assert (resp.status, await resp.json()) == (
                401,
                {"message": "401: Unauthorized", "code": 0},
            )
        async with http.get(f"{fake.api_url}/nothing/here") as resp:
            assert (resp.status, await resp.json()) == (
                404,
                {"message": "404: Not Found", "code": 0},
            )


async def test_voice_message_attachment_is_readable(bot: Bot, fake: FakeDiscord) -> None:
    await fake.push_voice_message(TEXT_CHANNEL_ID, OGG, duration_secs=2.5)
    message = await next_item(bot.messages)
    assert message.flags.voice and message.content == ""
    (voice,) = message.attachments
    assert voice.is_voice_message() and voice.duration == 2.5 and voice.waveform
    assert (voice.size, voice.content_type) == (len(OGG), "audio/ogg")
    assert await voice.read() == OGG


async def test_reconnect_resumes_and_replays_missed_events(bot: Bot, fake: FakeDiscord) -> None:
    await fake.request_reconnect()
    await fake.push_message(TEXT_CHANNEL_ID, "sent while reconnecting")
    async with asyncio.timeout(5):
        await bot.resumed.wait()
    assert fake.resumes == 1
    assert (await next_item(bot.messages)).content == "sent while reconnecting"
    await fake.push_message(TEXT_CHANNEL_ID, "after the resume")
    assert (await next_item(bot.messages)).content == "after the resume"
    assert bot.messages.empty()


async def test_gateway_frames_zlib_and_bad_token(fake: FakeDiscord) -> None:
    async with aiohttp.ClientSession() as http:
        url = f"{fake.gateway_url}?v=10&encoding=json&compress=zlib-stream"
        async with http.ws_connect(url) as ws:
            frame = await ws.receive()
            assert frame.type is aiohttp.WSMsgType.BINARY and frame.data.endswith(b"\0\0\xff\xff")
            hello = json.loads(zlib.decompressobj().decompress(frame.data))
            assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] == 41_250
            await ws.send_json({"op": 2, "d": {"token": "wrong", "intents": 0, "properties": {}}})
            assert (await ws.receive()).type is aiohttp.WSMsgType.CLOSE
            assert ws.close_code == 4004
        client = discord.Client(intents=discord.Intents.default())
        with pytest.raises(discord.LoginFailure):
            await client.login("not-the-token")
        await client.close()


async def test_privileged_intent_not_enabled_is_refused() -> None:
    async with FakeDiscord(privileged_intents=0) as fake:
        with fake.patch_discord():
            client = Bot(message_content=True)
            with pytest.raises(discord.PrivilegedIntentsRequired):
                async with running(client, fake):
                    pass


async def test_auto_sharded_client_asks_for_the_gateway(fake: FakeDiscord) -> None:
    client = ShardedBot()
    async with running(client, fake):
        assert fake.calls("/gateway/bot")
        assert fake.identify is not None and fake.identify["shard"] == [0, 1]
        guild = client.get_guild(GUILD_ID)
        assert guild is not None and not guild.unavailable


async def test_a_reply_without_its_ping_loses_its_content_without_the_intent(
    fake: FakeDiscord,
) -> None:
    client = Bot(message_content=False)
    async with running(client, fake):
        mine = await text_channel(client).send("the bot speaks")
        await fake.push_message(TEXT_CHANNEL_ID, "quiet reply", reply_to=mine.id, reply_ping=False)
        quiet = await next_item(client.messages)
        assert (quiet.content, quiet.attachments, quiet.embeds, quiet.mentions) == ("", [], [], [])
        assert quiet.reference is not None and quiet.reference.message_id == mine.id
        replied = quiet.reference.resolved
        assert isinstance(replied, discord.Message) and replied.author == client.user
        await fake.push_message(TEXT_CHANNEL_ID, "loud reply", reply_to=mine.id)
        loud = await next_item(client.messages)
        assert loud.content == "loud reply" and client.user in loud.mentions


async def test_a_denied_permission_refuses_like_discord(bot: Bot, fake: FakeDiscord) -> None:
    updated = asyncio.ensure_future(bot.wait_for("guild_channel_update", timeout=5))
    await fake.deny(TEXT_CHANNEL_ID, ATTACH_FILES)
    _, channel = await updated  # Discord sends CHANNEL_UPDATE with the new overwrite
    assert isinstance(channel, discord.TextChannel) and channel.guild.me is not None
    assert not channel.permissions_for(channel.guild.me).attach_files
    assert channel.permissions_for(channel.guild.me).send_messages
    await channel.send("text still goes")
    with pytest.raises(discord.Forbidden) as refused:
        await channel.send(file=discord.File(io.BytesIO(MP4), "avatar.mp4"))
    assert (refused.value.status, refused.value.code, refused.value.text) == (
        403,
        50013,
        "Missing Permissions",
    )
    rejected = fake.calls("/messages", "POST")[-1]
    assert rejected.files  # recorded, though refused
    pushed = await fake.push_interaction("talk", {"text": "hi"})
    interaction, _, _ = await next_item(bot.invocations)
    assert not interaction.app_permissions.attach_files
    assert int(pushed.payload["app_permissions"]) & ATTACH_FILES == 0
    await interaction.response.defer(thinking=True)
    with pytest.raises(discord.Forbidden):
        await interaction.followup.send(file=discord.File(io.BytesIO(MP4), "avatar.mp4"))
    await interaction.followup.send("text still goes")


async def test_identify_refusals_close_with_discords_codes() -> None:
    async def close_code(fake: FakeDiscord, query: str, identify: dict[str, object]) -> int | None:
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(f"{fake.gateway_url}?{query}") as ws:
                assert json.loads((await ws.receive()).data)["op"] == 10
                await ws.send_json({"op": 2, "d": {"token": fake.token, **identify}})
                assert (await ws.receive()).type is aiohttp.WSMsgType.CLOSE
                return ws.close_code

    async with FakeDiscord(shards_required=2) as fake:
        v10 = "v=10&encoding=json"
        assert await close_code(fake, "v=8&encoding=json", {"intents": 0}) == 4012
        assert await close_code(fake, v10, {"intents": 1 << 30}) == 4013
        assert await close_code(fake, v10, {"intents": 0, "shard": [2, 2]}) == 4010
        assert await close_code(fake, v10, {"intents": 0}) == 4011  # no shard: one of one
    async with FakeDiscord(privileged_intents=0) as fake:
        assert await close_code(fake, "v=10&encoding=json", {"intents": 1 << 15}) == 4014


async def test_a_token_reset_drops_the_session_and_refuses_the_old_token(fake: FakeDiscord) -> None:
    old = fake.token
    async with aiohttp.ClientSession() as http:
        url = f"{fake.gateway_url}?v=10&encoding=json"
        async with http.ws_connect(url) as ws:
            await ws.receive()  # HELLO
            await ws.send_json({"op": 2, "d": {"token": old, "intents": 0}})
            ready = json.loads((await ws.receive()).data)
            assert ready["t"] == "READY"
            await fake.reset_token("MTEwMDAwMDAwMDAwMDAwMDAwMQ.GnEwOn.new-token")
            while (await ws.receive()).type is aiohttp.WSMsgType.TEXT:
                pass  # GUILD_CREATE
            assert ws.close_code == 4000  # resumable
        async with http.ws_connect(url) as ws:
            await ws.receive()
            resume = {"token": old, "session_id": ready["d"]["session_id"], "seq": 1}
            await ws.send_json({"op": 6, "d": resume})
            assert json.loads((await ws.receive()).data) == {"op": 9, "d": False}
        async with http.ws_connect(url) as ws:
            await ws.receive()
            await ws.send_json({"op": 2, "d": {"token": old, "intents": 0}})
            assert (await ws.receive()).type is aiohttp.WSMsgType.CLOSE
            assert ws.close_code == 4004
    client = discord.Client(intents=discord.Intents.none())
    with pytest.raises(discord.LoginFailure):
        await client.login(old)  # REST refuses the old token too
    await client.close()
