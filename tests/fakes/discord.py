"""A local Discord (REST API v10 and gateway WebSocket) that the real discord.py talks to in tests.

Point discord.py at it with ``with fake.patch_discord():``, which sets ``discord.http.Route.BASE``
to ``fake.api_url`` (``{base_url}/api/v10``; interaction callbacks and webhooks build their URLs
through ``Route`` too) and ``DiscordWebSocket.DEFAULT_GATEWAY`` to ``fake.gateway_url``
(``ws://127.0.0.1:PORT/gateway``), where a plain ``Client`` connects; ``AutoShardedClient`` asks
``GET /gateway/bot`` first, which answers the same URL. Create the client with a short
``guild_ready_timeout`` (e.g. 0.1): discord.py waits that long (2 s by default) after the last
GUILD_CREATE before it fires ``on_ready``.

Gateway frames are JSON, compressed per connection with ``zstd-stream`` or ``zlib-stream`` when the
URL asks for it (discord.py asks for zstd when ``zstandard`` is installed), plain text otherwise.
The fake sends HELLO, answers IDENTIFY with READY and a GUILD_CREATE per guild, acks heartbeats
and replays missed events on RESUME; an IDENTIFY Discord would refuse gets its close code (4004
bad token, 4010 invalid shard, 4011 sharding required, 4012 gateway version, 4013 invalid
intents, 4014 privileged intent not enabled in the portal). Tests push MESSAGE_CREATE (text,
mentions, replies with or without their ping, attachments, voice messages, DMs) and
INTERACTION_CREATE (slash commands with string and attachment options); the bot's own messages
come back as gateway events, as on Discord, and without the Message Content intent other users'
guild messages that do not mention the bot arrive with empty content. What the bot does is
recorded per channel (``fake.sent``) and per interaction (``fake.interaction_responses``).
Uploaded and pushed attachments are served at CDN-like URLs. Channel permission overwrites
(``deny``) refuse what Discord refuses (403 50013). Errors use Discord's shape
``{"message", "code"}``; 429s carry ``retry_after`` and the ``X-RateLimit-*`` and ``Via`` headers
that discord.py needs before it retries. The fake never rate-limits by itself: inject 429s.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import json
import mimetypes
import re
import secrets
import time
import warnings
import zlib
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import yarl
import zstandard
from aiohttp import BodyPartReader, WSMsgType, web

from tests.fakes.server import LocalServer

with warnings.catch_warnings():  # discord.py imports audioop, deprecated since Python 3.11
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    from discord.gateway import DiscordWebSocket
    from discord.http import Route

T = TypeVar("T")
JSON = dict[str, Any]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

API = "/api/v10"
BOT_ID = 1_100_000_000_000_000_001  # a bot's user id is its application id
DEFAULT_TOKEN = "MTEwMDAwMDAwMDAwMDAwMDAwMQ.GfAkEz.fake-token"  # base64 of the id, like Discord's
GUILD_ID = 1_100_000_000_000_000_100
TEXT_CHANNEL_ID = 1_100_000_000_000_000_101
THREAD_ID = 1_100_000_000_000_000_102
USER_ID = 1_100_000_000_000_000_200  # a human who owns the guild and writes to the bot
DISCORD_EPOCH_MS = 1_420_070_400_000

# Gateway intents (the privileged ones must be enabled in the Developer Portal).
GUILDS, GUILD_MEMBERS, GUILD_PRESENCES = 1 << 0, 1 << 1, 1 << 8
GUILD_MESSAGES, DIRECT_MESSAGES, MESSAGE_CONTENT = 1 << 9, 1 << 12, 1 << 15
PRIVILEGED_INTENTS = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT
KNOWN_INTENTS = (1 << 17) - 1 | 1 << 20 | 1 << 21 | 1 << 24 | 1 << 25  # any other bit: close 4013
GATEWAY_VERSIONS = ("9", "10")  # older ones are discontinued: close 4012
# Permission bits.
VIEW_CHANNEL, SEND_MESSAGES, EMBED_LINKS, ATTACH_FILES = 1 << 10, 1 << 11, 1 << 14, 1 << 15
SEND_MESSAGES_IN_THREADS = 1 << 38
# Message flags.
EPHEMERAL, LOADING, VOICE_MESSAGE = 1 << 6, 1 << 7, 1 << 13
# Application flags: GATEWAY_MESSAGE_CONTENT_LIMITED and APPLICATION_COMMAND_BADGE.
APPLICATION_FLAGS = (1 << 19) | (1 << 23)
# View channel, send messages (and in threads), embed links, attach files, read history,
# add reactions, use application commands, send voice messages.
BOT_PERMISSIONS = str(sum(1 << b for b in (6, 10, 11, 14, 15, 16, 31, 38, 46)))
MAX_CONTENT_LENGTH = 2000
UPLOAD_LIMIT = 10 * 1024 * 1024  # per file, for unboosted guilds and interactions
CALLBACK_TYPES = {2: {4, 5, 9}, 3: {4, 5, 6, 7, 9}, 4: {8}}  # interaction type → allowed responses
DISPATCH, HEARTBEAT, IDENTIFY, RESUME, RECONNECT = 0, 1, 2, 6, 7  # gateway opcodes
INVALID_SESSION, HELLO, HEARTBEAT_ACK = 9, 10, 11

_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")
_FILE_FIELD = re.compile(r"files\[(\d+)\]")


@dataclass(frozen=True, slots=True)
class Upload:
    """One file part of a multipart request (discord.py names them ``files[n]``)."""

    field: str
    filename: str
    content_type: str | None
    data: bytes


@dataclass(frozen=True, slots=True)
class Recorded:
    """One HTTP request the fake received; ``route`` is its template without ``/api/v10``."""

    method: str
    path: str
    route: str | None
    headers: dict[str, str]
    query: dict[str, str]
    json: Any | None
    form: dict[str, str] | None
    files: tuple[Upload, ...]


@dataclass(frozen=True, slots=True)
class Sent:
    """Something the bot did that users see: a message, edit, deletion, typing or response."""

    kind: str  # message, edit, delete, typing, callback, edit_original, followup
    channel_id: int
    message_id: int | None = None
    content: str | None = None
    flags: int = 0
    allowed_mentions: JSON | None = None
    message_reference: JSON | None = None
    files: tuple[Upload, ...] = ()
    interaction_id: int | None = None
    response_type: int | None = None
    payload: JSON = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AttachmentSpec:
    """A file that a pushed message or command option carries."""

    filename: str
    data: bytes
    content_type: str | None = None
    duration_secs: float | None = None  # voice messages
    waveform: bytes | None = None  # voice messages: up to 256 one-byte samples


@dataclass(frozen=True, slots=True)
class PushedInteraction:
    """An INTERACTION_CREATE the fake sent; ``payload`` is exactly what the bot received."""

    id: int
    token: str
    payload: JSON


class DiscordError(Exception):
    """An error answer in Discord's shape; raise it from a handler."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        errors: JSON | None = None,
        body: JSON | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.body = body or {"message": message, "code": code}
        if errors:
            self.body["errors"] = errors
        self.headers = headers or {}

    def response(self) -> web.Response:
        return _json(self.body, status=self.status, headers=self.headers)


def _unknown(what: str, code: int) -> DiscordError:
    return DiscordError(404, code, f"Unknown {what}")


def _invalid_form(path: Sequence[str], code: str, message: str) -> DiscordError:
    errors: JSON = {"_errors": [{"code": code, "message": message}]}
    for key in reversed(path):
        errors = {key: errors}
    return DiscordError(400, 50035, "Invalid Form Body", errors=errors)


ALREADY_ACKNOWLEDGED = DiscordError(400, 40060, "Interaction has already been acknowledged.")
INVALID_WEBHOOK_TOKEN = DiscordError(401, 50027, "Invalid Webhook Token")
MISSING_PERMISSIONS = DiscordError(403, 50013, "Missing Permissions")
_DEFAULT_ERRORS = {
    401: (0, "401: Unauthorized"),
    403: (50013, "Missing Permissions"),
    404: (0, "404: Not Found"),
    500: (0, "500: Internal Server Error"),
}


@dataclass
class _Fault:
    route: str
    method: str | None
    error: DiscordError | None  # None: a delay
    delay: float
    times: int
    after: int = 0  # matching requests let through before the fault applies


@dataclass
class _Interaction:
    id: int
    token: str
    type: int
    channel_id: int
    created: float  # loop time
    payload: JSON
    expired: bool = False
    response_type: int | None = None
    message_ids: list[int] = field(default_factory=list)  # the original response first


@dataclass
class _Body:
    json: Any | None = None
    form: dict[str, str] | None = None
    files: tuple[Upload, ...] = ()

    def payload(self) -> JSON:
        """The JSON body, or the ``payload_json`` part of a multipart body."""
        if self.form is not None and "payload_json" in self.form:
            return dict(json.loads(self.form["payload_json"]))
        return dict(self.json) if isinstance(self.json, dict) else {}


BODY = web.RequestKey("discord_body", _Body)


class _Encoder:
    """Frames gateway payloads the way a connection asked: zstd-stream, zlib-stream or text."""

    def __init__(self, compress: str | None) -> None:
        self._zlib = zlib.compressobj() if compress == "zlib-stream" else None
        self._zstd = zstandard.ZstdCompressor().compressobj() if compress == "zstd-stream" else None

    def encode(self, payload: JSON) -> str | bytes:
        text = json.dumps(payload)
        if self._zlib is not None:  # every message ends with a Z_SYNC_FLUSH marker
            return self._zlib.compress(text.encode()) + self._zlib.flush(zlib.Z_SYNC_FLUSH)
        if self._zstd is not None:  # one endless frame, flushed block by block
            data = self._zstd.compress(text.encode())
            return data + self._zstd.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)
        return text


@dataclass(eq=False)
class _Connection:
    ws: web.WebSocketResponse
    encoder: _Encoder
    session: _Session | None = None

    async def send(self, payload: JSON) -> None:
        frame = self.encoder.encode(payload)
        with suppress(ConnectionResetError):
            if isinstance(frame, bytes):
                await self.ws.send_bytes(frame)
            else:
                await self.ws.send_str(frame)


@dataclass(eq=False)
class _Session:
    id: str
    intents: int
    shard: tuple[int, int]
    connection: _Connection | None = None
    ready: bool = False
    seq: int = 0
    backlog: list[JSON] = field(default_factory=list)  # dispatched frames, for RESUME

    def owns(self, guild_id: int | None) -> bool:
        """Discord routes a guild's events to shard (guild_id >> 22) % shards, DMs to shard 0."""
        shard_id, count = self.shard
        return shard_id == ((guild_id or 0) >> 22) % count


class FakeDiscord(LocalServer):
    """Local Discord REST API and gateway; use as ``async with FakeDiscord() as fake:``."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        heartbeat_interval: int = 41_250,  # milliseconds, as Discord sends it in HELLO
        response_deadline: float = 3.0,  # seconds to the first interaction response
        token_lifetime: float = 15 * 60.0,  # seconds an interaction token stays valid
        privileged_intents: int = PRIVILEGED_INTENTS,  # enabled in the Developer Portal
        shards_required: int = 1,  # fewer shards in IDENTIFY: close 4011, sharding required
        default_guild: bool = True,  # GUILD_ID with TEXT_CHANNEL_ID and THREAD_ID
    ) -> None:
        self.token = token
        self.application_id = BOT_ID
        self.heartbeat_interval = heartbeat_interval
        self.response_deadline = response_deadline
        self.token_lifetime = token_lifetime
        self.privileged_intents = privileged_intents
        self.shards_required = shards_required
        self.upload_limit = UPLOAD_LIMIT
        self.requests: list[Recorded] = []
        self.users: dict[int, JSON] = {}
        self.guilds: dict[int, JSON] = {}
        self.channels: dict[int, JSON] = {}
        self.commands: dict[int | None, list[JSON]] = {}  # guild id (None: global) → commands
        self.identify: JSON | None = None
        self.gateway_query: dict[str, str] = {}
        self.gateway_received: list[JSON] = []
        self.heartbeats = 0
        self.resumes = 0
        self.readies = 0  # READY events sent (counted as each is about to go out)
        self.bot_user = self.add_user(BOT_ID, "avatar", global_name="Avatar", bot=True)
        self._messages: dict[int, JSON] = {}
        self._files: dict[tuple[int, int, str], tuple[str, bytes]] = {}
        self._sent: list[Sent] = []
        self._interactions: dict[int, _Interaction] = {}
        self._faults: list[_Fault] = []
        self._forbidden: set[int] = set()
        self._sessions: dict[str, _Session] = {}
        self._connections: set[_Connection] = set()
        self._last_id = 0
        self._changed = asyncio.Event()
        self._closed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._port = 0
        if default_guild:
            self.add_guild("Test Guild", guild_id=GUILD_ID)
            self.add_channel(GUILD_ID, "general", channel_id=TEXT_CHANNEL_ID)
            self.add_channel(
                GUILD_ID, "avatar-thread", type=11, parent_id=TEXT_CHANNEL_ID, channel_id=THREAD_ID
            )

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        cdn = r"/attachments/{channel_id:\d+}/{attachment_id:\d+}/{filename}"
        app.router.add_get(cdn, self._cdn)
        for method, path, handler in self._routes():
            app.router.add_route(method, API + path, handler)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self._port = self._runner.addresses[0][1]

    async def close(self) -> None:
        self._closed.set()
        for connection in list(self._connections):
            await connection.ws.close(code=1001, message=b"Discord is going away")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def api_url(self) -> str:
        return self.base_url + API

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self._port}/gateway"

    @property
    def bot_mention(self) -> str:
        return f"<@{BOT_ID}>"

    @contextmanager
    def patch_discord(self) -> Iterator[None]:
        """Point discord.py's REST base and gateway URL at this fake, restoring them afterwards."""
        saved = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
        Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = self.api_url, yarl.URL(self.gateway_url)
        try:
            yield
        finally:
            Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = saved

    # -- world -----------------------------------------------------------------------------

    def add_user(
        self, user_id: int, username: str, *, global_name: str | None = None, bot: bool = False
    ) -> JSON:
        """Register a user (users that messages mention are registered on the fly)."""
        user = {
            "id": str(user_id),
            "username": username,
            "discriminator": "0",
            "global_name": global_name,
            "avatar": None,
            "bot": bot,
            "public_flags": 0,
        }
        self.users[user_id] = user
        return user

    def add_guild(self, name: str, *, guild_id: int | None = None, owner_id: int = USER_ID) -> int:
        """A guild the bot is in; add it (and its channels) before the client connects."""
        guild_id = guild_id or self._snowflake()
        self._user(owner_id)
        everyone = {
            "id": str(guild_id),
            "name": "@everyone",
            "permissions": BOT_PERMISSIONS,
            "position": 0,
            "color": 0,
            "hoist": False,
            "managed": False,
            "mentionable": False,
        }
        self.guilds[guild_id] = {
            "id": str(guild_id),
            "name": name,
            "icon": None,
            "owner_id": str(owner_id),
            "roles": [everyone],
            "emojis": [],
            "features": [],
            "premium_tier": 0,  # sets the upload limit: 10 MiB unboosted
            "preferred_locale": "en-US",
        }
        return guild_id

    def add_channel(
        self,
        guild_id: int,
        name: str,
        *,
        type: int = 0,  # noqa: A002  (Discord's field name) 0 text, 2 voice, 11/12 threads
        parent_id: int | None = None,
        channel_id: int | None = None,
    ) -> int:
        """A guild channel or thread (type 11 or 12 with ``parent_id``)."""
        channel_id = channel_id or self._snowflake()
        channel: JSON = {
            "id": str(channel_id),
            "type": type,
            "guild_id": str(guild_id),
            "name": name,
            "position": len(self.channels),
            "permission_overwrites": [],
            "parent_id": str(parent_id) if parent_id else None,
            "nsfw": False,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }
        if type == 2:
            channel.update(bitrate=64_000, user_limit=0, rtc_region=None)
        if type in (10, 11, 12):
            channel.update(
                owner_id=self.guilds[guild_id]["owner_id"],
                message_count=0,
                member_count=1,
                total_message_sent=0,
                thread_metadata={
                    "archived": False,
                    "auto_archive_duration": 1440,
                    "archive_timestamp": _now_iso(),
                    "locked": False,
                },
            )
        self.channels[channel_id] = channel
        return channel_id

    def add_dm_channel(self, user_id: int) -> int:
        """The DM channel between the bot and a user (created once)."""
        for channel_id, channel in self.channels.items():
            if channel["type"] == 1 and channel["recipients"][0]["id"] == str(user_id):
                return channel_id
        channel_id = self._snowflake()
        self.channels[channel_id] = {
            "id": str(channel_id),
            "type": 1,
            "last_message_id": None,
            "flags": 0,
            "recipients": [self._user(user_id)],
        }
        return channel_id

    async def user_deletes(self, message_id: int) -> None:
        """Its author deletes a message: MESSAGE_DELETE, then 10008 for it, and a reply to it
        answers 400 50035 unless its reference says ``fail_if_not_exists: false``."""
        await self._delete(self._messages[message_id])

    def forbid(self, channel_id: int) -> None:
        """The bot lost its permissions in a channel: every channel route answers 50013."""
        self._forbidden.add(channel_id)

    async def reset_token(self, token: str) -> None:
        """The owner resets the bot token in the portal: the old one stops working for REST and
        the gateway. Open connections drop (close 4000, resumable); their RESUME is refused with
        INVALID_SESSION and the fresh IDENTIFY with the old token gets close 4004."""
        self.token = token
        for connection in list(self._connections):
            await connection.ws.close(code=4000, message=b"Unknown error.")

    async def deny(self, channel_id: int, permissions: int) -> None:
        """A channel overwrite for @everyone (the bot's only role) denying ``permissions``.

        Discord sends the bot CHANNEL_UPDATE; requests needing them answer 403 50013, and
        interactions there carry the reduced ``app_permissions``.
        """
        channel = self._channel(channel_id)
        guild_id = channel["guild_id"]
        overwrites = [o for o in channel["permission_overwrites"] if o["id"] != guild_id]
        denied = permissions | next(
            (int(o["deny"]) for o in channel["permission_overwrites"] if o["id"] == guild_id), 0
        )
        overwrites.append({"id": guild_id, "type": 0, "allow": "0", "deny": str(denied)})
        channel["permission_overwrites"] = overwrites
        await self._dispatch(int(guild_id), "CHANNEL_UPDATE", channel, GUILDS)

    def permissions(self, channel_id: int) -> int:
        """The bot's permissions in a channel: @everyone's, after the channel's overwrites (a
        thread's are its parent's); in DMs what Discord grants apps there."""
        channel = self._channel(channel_id)
        if channel.get("guild_id") is None:
            return ATTACH_FILES | EMBED_LINKS | VIEW_CHANNEL | SEND_MESSAGES
        if channel["type"] in (10, 11, 12) and channel.get("parent_id"):
            channel = self._channel(int(channel["parent_id"]))
        guild = self.guilds[int(channel["guild_id"])]
        allowed = int(guild["roles"][0]["permissions"])
        for overwrite in channel["permission_overwrites"]:
            if overwrite["id"] == guild["id"]:
                allowed = (allowed & ~int(overwrite["deny"])) | int(overwrite["allow"])
        return allowed

    def _require(self, channel: JSON, needed: int) -> None:
        if channel.get("guild_id") is not None and needed & ~self.permissions(int(channel["id"])):
            raise MISSING_PERMISSIONS

    def expire_token(self, token: str) -> None:
        """Age an interaction token past its 15 minutes: its webhook routes answer 50027."""
        for interaction in self._interactions.values():
            if interaction.token == token:
                interaction.expired = True

    # -- queries and waiting ---------------------------------------------------------------

    def calls(self, path_suffix: str, method: str | None = None) -> list[Recorded]:
        """Requests whose path (or route template) ends with ``path_suffix``."""
        return [
            r
            for r in self.requests
            if (r.path.endswith(path_suffix) or (r.route or "").endswith(path_suffix))
            and (method is None or r.method == method.upper())
        ]

    def sent(self, channel_id: int, kind: str | None = None) -> list[Sent]:
        """What the bot did in a channel, in order (interaction responses included)."""
        return [s for s in self._sent if s.channel_id == channel_id and kind in (None, s.kind)]

    def interaction_responses(self, interaction_id: int) -> list[Sent]:
        """The callback, edits of the original response and followups of one interaction."""
        return [s for s in self._sent if s.interaction_id == interaction_id]

    def message(self, message_id: int) -> JSON | None:
        """A message as it is now (after edits), or None if deleted or unknown."""
        return copy.deepcopy(self._messages.get(message_id))

    @property
    def connected(self) -> bool:
        """A client has identified (or resumed) and holds an open gateway connection."""
        return any(s.ready and s.connection for s in self._sessions.values())

    async def wait_for(
        self,
        predicate: Callable[[], T],
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> T:
        """Wait until ``predicate()`` is truthy, re-checking on every request and gateway frame."""
        try:
            async with asyncio.timeout(timeout):
                while not (value := predicate()):
                    await self._changed.wait()
        except TimeoutError:
            raise TimeoutError(f"condition not met within {timeout} s") from None
        return value

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # -- fault injection -------------------------------------------------------------------

    def fail_next(
        self,
        route: str,
        status: int,
        *,
        method: str | None = None,
        code: int | None = None,
        message: str | None = None,
        retry_after: float | None = None,
        times: int = 1,
        after: int = 0,
        is_global: bool = False,
    ) -> None:
        """Make the next ``times`` requests whose path or template ends with ``route`` fail,
        once ``after`` of them went through.

        discord.py retries a 429 after ``retry_after`` (default 0.05 s here) unless that exceeds
        its ``max_ratelimit_timeout``; it retries 500/502/504 too, but only after sleeping 1 s or
        more, so fast tests should inject 429s or 4xx errors. ``is_global``: the bot's global
        limit (every route waits), else the route's own.
        """
        if status == 429:
            wait = 0.05 if retry_after is None else retry_after
            error = _rate_limited(route, wait, code, is_global=is_global)
        else:
            default_code, default_message = _DEFAULT_ERRORS.get(status, (0, f"{status}: Error"))
            code = default_code if code is None else code
            error = DiscordError(status, code, message or default_message)
        self._faults.append(_Fault(route, method, error, 0.0, times, after))

    def delay_next(
        self, route: str, seconds: float, *, method: str | None = None, times: int = 1
    ) -> None:
        """Hold the next ``times`` matching requests for ``seconds`` before answering."""
        self._faults.append(_Fault(route, method, None, seconds, times))

    async def _apply_faults(self, request: web.Request, route: str) -> None:
        path = request.path.removeprefix(API)
        for fault in list(self._faults):
            if fault.method not in (None, request.method) or not (
                path.endswith(fault.route) or route.endswith(fault.route)
            ):
                continue
            if fault.after > 0:
                fault.after -= 1
                continue
            fault.times -= 1
            if fault.times <= 0:
                self._faults.remove(fault)
            if fault.error is not None:
                raise fault.error
            with suppress(TimeoutError):
                async with asyncio.timeout(fault.delay):
                    await self._closed.wait()

    # -- pushing events --------------------------------------------------------------------

    async def push_message(
        self,
        channel_id: int,
        content: str = "",
        *,
        author_id: int = USER_ID,
        reply_to: int | None = None,
        reply_ping: bool = True,
        attachments: Sequence[AttachmentSpec] = (),
        flags: int = 0,
    ) -> JSON:
        """A user's MESSAGE_CREATE; mentions (``<@id>``, ``@everyone``) are parsed from content.

        A reply pings the replied-to author unless ``reply_ping`` is off (the client's "@ ON"
        toggle); then a bot without Message Content gets it with empty content, attachments and
        embeds. DMs need no CHANNEL_CREATE first (Discord sends none): discord.py builds a
        DMChannel from the channel id alone.
        """
        channel = self._channel(channel_id)
        await self.wait_for(lambda: self.connected)
        payload: JSON = {"content": content, "flags": flags}
        if reply_to is not None:
            payload["message_reference"] = {"message_id": str(reply_to), "fail_if_not_exists": True}
            if not reply_ping:  # what the Discord client sends with the ping switched off
                parse = ["users", "roles", "everyone"]
                payload["allowed_mentions"] = {"parse": parse, "replied_user": False}
        message = self._new_message(
            channel,
            self._user(author_id),
            payload,
            [self._store_attachment(channel_id, spec) for spec in attachments],
        )
        await self._dispatch_message("MESSAGE_CREATE", message)
        return copy.deepcopy(message)

    async def push_dm(self, user_id: int, content: str = "", **kwargs: Any) -> JSON:
        """A direct message from a user to the bot."""
        return await self.push_message(
            self.add_dm_channel(user_id), content, author_id=user_id, **kwargs
        )

    async def push_voice_message(
        self,
        channel_id: int,
        data: bytes,
        *,
        duration_secs: float = 1.0,
        waveform: bytes = bytes(range(0, 256, 8)),
        author_id: int = USER_ID,
    ) -> JSON:
        """A voice message: no text, one OGG/Opus attachment, flag IS_VOICE_MESSAGE."""
        spec = AttachmentSpec("voice-message.ogg", data, "audio/ogg", duration_secs, waveform)
        return await self.push_message(
            channel_id, "", author_id=author_id, attachments=[spec], flags=VOICE_MESSAGE
        )

    async def push_interaction(
        self,
        command: str,
        options: Mapping[str, Any] | None = None,
        *,
        channel_id: int = TEXT_CHANNEL_ID,
        user_id: int = USER_ID,
        locale: str = "en-US",
    ) -> PushedInteraction:
        """A slash command invocation; the command must have been synced (PUT .../commands).

        Option values are checked against the registered command: strings, numbers and booleans
        as they are, ATTACHMENT options as ``AttachmentSpec`` (sent in ``resolved.attachments``).
        """
        channel = self._channel(channel_id)
        await self.wait_for(lambda: self.connected)
        guild_id = _snowflake_or_none(channel.get("guild_id"))
        registered, command_guild = self._find_command(command, guild_id)
        data: JSON = {"id": registered["id"], "name": command, "type": 1, "options": []}
        if command_guild is not None:
            data["guild_id"] = str(command_guild)
        resolved: dict[str, JSON] = {}
        specs = {o["name"]: o for o in registered.get("options") or []}
        for name, value in (options or {}).items():
            if name not in specs:
                raise ValueError(f"/{command} has no option {name!r}")
            kind = specs[name]["type"]
            if kind == 11:
                if not isinstance(value, AttachmentSpec):
                    raise TypeError(f"option {name!r} is an ATTACHMENT: pass an AttachmentSpec")
                attachment = self._store_attachment(channel_id, value, ephemeral=True)
                resolved[attachment["id"]] = attachment
                value = attachment["id"]
            choices = [choice["value"] for choice in specs[name].get("choices") or []]
            if choices and value not in choices:
                # "If you specify choices for an option, they are the only valid values for a
                # user to pick" (discord.com/developers/docs/interactions/application-commands)
                raise ValueError(f"/{command} {name}: {value!r} is not one of {choices}")
            data["options"].append({"name": name, "type": kind, "value": value})
        missing = [n for n, o in specs.items() if o.get("required") and n not in (options or {})]
        if missing:
            raise ValueError(f"/{command} needs options {missing}")
        if resolved:
            data["resolved"] = {"attachments": resolved}
        interaction_id = self._snowflake()
        token = _interaction_token(interaction_id)
        user = self._user(user_id)
        payload: JSON = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": 2,
            "data": data,
            "channel_id": str(channel_id),
            "channel": {**channel, "permissions": BOT_PERMISSIONS},
            "token": token,
            "version": 1,
            "locale": locale,
            "app_permissions": str(self.permissions(channel_id)),
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(guild_id or 0)},
            "context": 0 if guild_id else 1,
            "attachment_size_limit": self.upload_limit,
        }
        if guild_id is not None:
            payload.update(
                guild_id=str(guild_id),
                guild={"id": str(guild_id), "locale": "en-US", "features": []},
                guild_locale="en-US",
                member={**_member(), "user": user, "permissions": BOT_PERMISSIONS},
            )
        else:
            payload["user"] = user
        loop_time = asyncio.get_running_loop().time()
        self._interactions[interaction_id] = _Interaction(
            interaction_id, token, 2, channel_id, loop_time, payload
        )
        await self._dispatch(guild_id, "INTERACTION_CREATE", payload)
        return PushedInteraction(interaction_id, token, copy.deepcopy(payload))

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT: the client closes and RESUMEs its session."""
        for connection in list(self._connections):
            await connection.send({"op": RECONNECT, "d": None})

    # -- gateway ---------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.gateway_query = dict(request.query)
        connection = _Connection(ws, _Encoder(request.query.get("compress")))
        self._connections.add(connection)
        try:
            heartbeat = {"heartbeat_interval": self.heartbeat_interval, "_trace": ["fake-gateway"]}
            await connection.send({"op": HELLO, "d": heartbeat})
            async for frame in ws:
                if frame.type is WSMsgType.TEXT:
                    await self._on_gateway_payload(connection, json.loads(frame.data))
        finally:
            self._connections.discard(connection)
            session = connection.session
            if session is not None and session.connection is connection:
                session.connection = None
                if ws.close_code in (1000, 1001):  # a clean close ends the session
                    self._sessions.pop(session.id, None)
            self._notify()
        return ws

    async def _on_gateway_payload(self, connection: _Connection, payload: JSON) -> None:
        self.gateway_received.append(payload)
        self._notify()
        op, data = payload.get("op"), payload.get("d") or {}
        if op == HEARTBEAT:
            self.heartbeats += 1
            await connection.send({"op": HEARTBEAT_ACK})
        elif op == IDENTIFY:
            await self._identify(connection, data)
        elif op == RESUME:
            await self._resume(connection, data)

    async def _identify(self, connection: _Connection, data: JSON) -> None:
        self.identify = data
        intents = int(data.get("intents", 0))
        shard = data.get("shard") or [0, 1]
        refusal = self._refusal(data.get("token"), intents, (int(shard[0]), int(shard[1])))
        if refusal is not None:
            await connection.ws.close(code=refusal[0], message=refusal[1].encode())
            return
        session = _Session(secrets.token_hex(16), intents, (int(shard[0]), int(shard[1])))
        self._sessions[session.id] = connection.session = session
        session.connection = connection
        guild_ids = [g for g in self.guilds if session.owns(g)]
        ready: JSON = {
            "v": 10,
            "user": self.bot_user,
            "guilds": [{"id": str(g), "unavailable": True} for g in guild_ids],
            "session_id": session.id,
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.application_id), "flags": APPLICATION_FLAGS},
        }
        if "shard" in data:
            ready["shard"] = list(session.shard)
        self.readies += 1
        await self._emit(session, "READY", ready)
        for guild_id in guild_ids:
            await self._emit(session, "GUILD_CREATE", self._guild_create(guild_id))
        session.ready = True
        self._notify()

    def _refusal(self, token: Any, intents: int, shard: tuple[int, int]) -> tuple[int, str] | None:
        """The close code and reason Discord answers an IDENTIFY it refuses with."""
        if token != self.token:
            return 4004, "Authentication failed."
        if self.gateway_query.get("v") not in GATEWAY_VERSIONS:
            return 4012, "Invalid API version."
        if intents & ~KNOWN_INTENTS:
            return 4013, "Invalid intent(s)."
        if intents & PRIVILEGED_INTENTS & ~self.privileged_intents:
            return 4014, "Disallowed intent(s)."
        if shard[1] < 1 or not 0 <= shard[0] < shard[1]:
            return 4010, "Invalid shard."
        if shard[1] < self.shards_required:
            return 4011, "Sharding required."
        return None

    async def _resume(self, connection: _Connection, data: JSON) -> None:
        session = self._sessions.get(str(data.get("session_id")))
        if session is None or data.get("token") != self.token:
            await connection.send({"op": INVALID_SESSION, "d": False})
            return
        connection.session, session.connection = session, connection
        for frame in session.backlog:
            if frame["s"] > int(data.get("seq") or 0):
                await connection.send(frame)
        self.resumes += 1
        await self._emit(session, "RESUMED", {"_trace": ["fake-gateway"]})
        self._notify()

    async def _emit(self, session: _Session, event: str, data: JSON) -> None:
        session.seq += 1
        frame = {"op": DISPATCH, "t": event, "s": session.seq, "d": data}
        session.backlog.append(frame)
        if session.connection is not None:
            await session.connection.send(frame)

    async def _dispatch(
        self,
        guild_id: int | None,
        event: str,
        data: JSON,
        intent: int = 0,
        transform: Callable[[JSON, int], JSON] | None = None,
    ) -> None:
        """Send an event to every session that owns the guild and has the intent."""
        for session in list(self._sessions.values()):
            if session.owns(guild_id) and (session.intents & intent) == intent:
                payload = transform(data, session.intents) if transform else data
                await self._emit(session, event, copy.deepcopy(payload))

    async def _dispatch_message(self, event: str, message: JSON) -> None:
        guild_id = _snowflake_or_none(message.get("guild_id"))
        intent = GUILD_MESSAGES if guild_id else DIRECT_MESSAGES
        await self._dispatch(guild_id, event, message, intent, self._visible)

    def _visible(self, message: JSON, intents: int) -> JSON:
        """Without Message Content, guild messages lose their content unless they mention the bot
        or the bot wrote them."""
        if (
            intents & MESSAGE_CONTENT
            or "author" not in message
            or message.get("guild_id") is None
            or message["author"]["id"] == str(BOT_ID)
            or any(m["id"] == str(BOT_ID) for m in message["mentions"])
        ):
            return message
        return {**message, "content": "", "embeds": [], "attachments": [], "components": []}

    def _guild_create(self, guild_id: int) -> JSON:
        channels = [c for c in self.channels.values() if c.get("guild_id") == str(guild_id)]
        threads = [c for c in channels if c["type"] in (10, 11, 12)]
        return {
            **self.guilds[guild_id],
            "unavailable": False,
            "joined_at": _now_iso(),
            "large": False,
            "member_count": 2,
            "members": [self._bot_member()],  # Discord always includes the bot's own member
            "channels": [c for c in channels if c not in threads],
            "threads": threads,
        }

    def _bot_member(self) -> JSON:
        return {**_member(), "user": self.bot_user}

    # -- HTTP plumbing ---------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            body = await _read_body(request)
        except DiscordError as error:
            return error.response()
        resource = request.match_info.route.resource
        route = resource.canonical.removeprefix(API) if resource is not None else None
        self.requests.append(
            Recorded(
                request.method,
                request.path,
                route,
                dict(request.headers),
                dict(request.query),
                body.json,
                body.form,
                body.files,
            )
        )
        self._notify()
        request[BODY] = body
        is_api = request.path.startswith(API + "/")
        try:
            if is_api and route is not None:
                await self._apply_faults(request, route)
                self._check_auth(request, route)
            response = await handler(request)
        except DiscordError as error:
            response = error.response()
        except web.HTTPException as error:  # no such route or method
            response = DiscordError(error.status, 0, f"{error.status}: {error.reason}").response()
        finally:
            self._notify()
        if is_api and not response.prepared and "X-RateLimit-Limit" not in response.headers:
            response.headers.update(_rate_limit_headers(route or request.path, 4, 1.0))
        return response

    def _check_auth(self, request: web.Request, route: str) -> None:
        # Interaction callbacks and webhooks authenticate with their token, /gateway with nothing.
        if route.startswith(("/interactions/", "/webhooks/")) or route == "/gateway":
            return
        if request.headers.get("Authorization") != f"Bot {self.token}":
            raise DiscordError(401, 0, "401: Unauthorized")

    def _routes(self) -> list[tuple[str, str, Handler]]:
        def reply(value: Callable[[], Any]) -> Handler:
            async def handler(request: web.Request) -> web.StreamResponse:
                return _json(value())

            return handler

        hook = "/webhooks/{application_id}/{token}"
        return [
            ("GET", "/users/@me", reply(lambda: self.bot_user)),
            ("POST", "/users/@me/channels", self._create_dm),
            ("GET", "/gateway", reply(lambda: {"url": self.gateway_url})),
            ("GET", "/gateway/bot", reply(self._gateway_bot)),
            ("GET", "/oauth2/applications/@me", reply(self._application)),
            ("GET", "/applications/@me", reply(self._application)),
            ("GET", "/channels/{channel_id}", self._get_channel),
            ("POST", "/channels/{channel_id}/messages", self._post_message),
            ("GET", "/channels/{channel_id}/messages/{message_id}", self._get_message),
            ("PATCH", "/channels/{channel_id}/messages/{message_id}", self._edit_message),
            ("DELETE", "/channels/{channel_id}/messages/{message_id}", self._delete_message),
            ("POST", "/channels/{channel_id}/typing", self._typing),
            ("GET", "/applications/{application_id}/commands", self._commands),
            ("PUT", "/applications/{application_id}/commands", self._commands),
            ("GET", "/applications/{application_id}/guilds/{guild_id}/commands", self._commands),
            ("PUT", "/applications/{application_id}/guilds/{guild_id}/commands", self._commands),
            ("POST", "/interactions/{interaction_id}/{token}/callback", self._callback),
            ("POST", hook, self._followup),
            ("GET", hook + "/messages/{message_id}", self._webhook_message),
            ("PATCH", hook + "/messages/{message_id}", self._webhook_message),
            ("DELETE", hook + "/messages/{message_id}", self._webhook_message),
        ]

    def _gateway_bot(self) -> JSON:
        limit = {"total": 1000, "remaining": 999, "reset_after": 14_400_000, "max_concurrency": 1}
        return {
            "url": self.gateway_url,
            "shards": self.shards_required,
            "session_start_limit": limit,
        }

    def _application(self) -> JSON:
        return {
            "id": str(self.application_id),
            "name": self.bot_user["username"],
            "description": "",
            "icon": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "flags": APPLICATION_FLAGS,
            "owner": self._user(USER_ID),
            "bot": self.bot_user,
            "interactions_endpoint_url": None,  # else discord.py warns it gets no interactions
        }

    async def _cdn(self, request: web.Request) -> web.StreamResponse:
        key = (
            int(request.match_info["channel_id"]),
            int(request.match_info["attachment_id"]),
            request.match_info["filename"],
        )
        if key not in self._files:
            return web.Response(status=404, text="This content is no longer available.")
        content_type, data = self._files[key]
        return web.Response(body=data, content_type=content_type)

    # -- REST: channels and messages -------------------------------------------------------

    def _target(self, request: web.Request) -> JSON:
        channel = self.channels.get(_snowflake(request.match_info["channel_id"]))
        if channel is None:
            raise _unknown("Channel", 10003)
        if int(channel["id"]) in self._forbidden:
            raise MISSING_PERMISSIONS
        return channel

    def _target_message(self, request: web.Request) -> tuple[JSON, JSON]:
        channel = self._target(request)
        message = self._messages.get(_snowflake(request.match_info["message_id"]))
        if message is None or message["channel_id"] != channel["id"]:
            raise _unknown("Message", 10008)
        return channel, message

    async def _get_channel(self, request: web.Request) -> web.StreamResponse:
        return _json(self._target(request))

    async def _create_dm(self, request: web.Request) -> web.StreamResponse:
        recipient = _snowflake(str(request[BODY].payload().get("recipient_id")))
        return _json(self.channels[self.add_dm_channel(recipient)])

    async def _post_message(self, request: web.Request) -> web.StreamResponse:
        channel, body = self._target(request), request[BODY]
        is_thread = channel["type"] in (10, 11, 12)
        send = SEND_MESSAGES_IN_THREADS if is_thread else SEND_MESSAGES
        self._require(channel, VIEW_CHANNEL | send | (ATTACH_FILES if body.files else 0))
        payload = body.payload()
        attachments = self._attachments(int(channel["id"]), payload, body.files)
        message = self._new_message(channel, self.bot_user, payload, attachments)
        self._log("message", message, payload, body.files)
        await self._dispatch_message("MESSAGE_CREATE", message)
        return _json(message)

    async def _edit_message(self, request: web.Request) -> web.StreamResponse:
        channel, message = self._target_message(request)
        if message["author"]["id"] != str(BOT_ID):
            raise DiscordError(403, 50005, "Cannot edit a message authored by another user")
        body = request[BODY]
        self._require(channel, ATTACH_FILES if body.files else 0)
        payload = body.payload()
        self._apply_edit(message, payload, body.files)
        self._log("edit", message, payload, body.files)
        await self._dispatch_message("MESSAGE_UPDATE", message)
        return _json(message)

    async def _get_message(self, request: web.Request) -> web.StreamResponse:
        _, message = self._target_message(request)
        return _json(message)

    async def _delete_message(self, request: web.Request) -> web.StreamResponse:
        channel, message = self._target_message(request)
        if message["author"]["id"] != str(BOT_ID):
            raise MISSING_PERMISSIONS  # deleting others' messages needs MANAGE_MESSAGES
        await self._delete(message)
        self._log("delete", message, {})
        return web.Response(status=204)

    async def _typing(self, request: web.Request) -> web.StreamResponse:
        channel = self._target(request)
        self._sent.append(Sent("typing", int(channel["id"])))
        return web.Response(status=204)

    async def _delete(self, message: JSON) -> None:
        del self._messages[int(message["id"])]
        gone: JSON = {k: message[k] for k in ("id", "channel_id", "guild_id") if k in message}
        await self._dispatch_message("MESSAGE_DELETE", gone)

    # -- REST: application commands --------------------------------------------------------

    async def _commands(self, request: web.Request) -> web.StreamResponse:
        if _snowflake(request.match_info["application_id"]) != self.application_id:
            raise DiscordError(403, 50001, "Missing Access")
        guild_id = _snowflake_or_none(request.match_info.get("guild_id"))
        if guild_id is not None and guild_id not in self.guilds:
            raise _unknown("Guild", 10004)
        if request.method == "PUT":
            self.commands[guild_id] = self._overwrite_commands(guild_id, request[BODY].json or [])
        return _json(self.commands.get(guild_id, []))

    def _overwrite_commands(self, guild_id: int | None, commands: list[JSON]) -> list[JSON]:
        """Bulk overwrite: commands keep their id when their name and type stay the same."""
        old = {(c["name"], c["type"]): c["id"] for c in self.commands.get(guild_id, [])}
        stored = []
        for index, command in enumerate(commands):
            _check_localized(command, [str(index)], described=command.get("type", 1) == 1)
            name, kind = command["name"], command.get("type", 1)
            stored.append(
                {
                    "default_member_permissions": None,
                    "nsfw": False,
                    "integration_types": [0],
                    "contexts": None,
                    "options": [],
                    **command,
                    "id": old.get((name, kind)) or str(self._snowflake()),
                    "application_id": str(self.application_id),
                    "version": str(self._snowflake()),
                    "type": kind,
                    "description": command.get("description", ""),
                    **({"guild_id": str(guild_id)} if guild_id else {}),
                }
            )
        return stored

    def _find_command(self, name: str, guild_id: int | None) -> tuple[JSON, int | None]:
        for scope in (guild_id, None) if guild_id else (None,):
            for command in self.commands.get(scope, []):
                if command["name"] == name and command["type"] == 1:
                    return command, scope
        raise LookupError(f"/{name} is not registered here: sync the command tree first")

    # -- REST: interactions ----------------------------------------------------------------

    async def _callback(self, request: web.Request) -> web.StreamResponse:
        interaction = self._interactions.get(_snowflake(request.match_info["interaction_id"]))
        if interaction is None or interaction.token != request.match_info["token"]:
            raise _unknown("interaction", 10062)
        if interaction.response_type is not None:
            raise ALREADY_ACKNOWLEDGED
        age = asyncio.get_running_loop().time() - interaction.created
        if interaction.expired or age > self.response_deadline:
            raise _unknown("interaction", 10062)
        body = request[BODY]
        payload = body.payload()
        kind, data = payload.get("type"), dict(payload.get("data") or {})
        if kind not in CALLBACK_TYPES[interaction.type]:
            raise _invalid_form(["type"], "INTERACTION_CALLBACK_TYPE_INVALID", "Invalid type")
        message: JSON | None = None
        if kind in (4, 5):
            channel = self.channels[interaction.channel_id]
            self._require(channel, ATTACH_FILES if body.files else 0)  # app_permissions
            # A deferred response shows "<bot> is thinking..." until the original is edited.
            flags = (int(data.get("flags") or 0) & EPHEMERAL) | (LOADING if kind == 5 else 0)
            fields = {"content": ""} if kind == 5 else data
            attachments = self._attachments(interaction.channel_id, fields, body.files)
            message = self._new_message(
                channel, self.bot_user, {**fields, "flags": flags}, attachments, interaction
            )
            interaction.message_ids.append(int(message["id"]))
        interaction.response_type = kind
        self._log("callback", message, data, body.files, interaction, kind)
        if message is not None and not message["flags"] & EPHEMERAL:
            await self._dispatch_message("MESSAGE_CREATE", message)
        if request.query.get("with_response", "").lower() not in ("1", "true"):
            return web.Response(status=204)
        callback: JSON = {"interaction": {"id": str(interaction.id), "type": interaction.type}}
        if message is not None:
            callback["interaction"].update(
                response_message_id=message["id"],
                response_message_loading=kind == 5,
                response_message_ephemeral=bool(message["flags"] & EPHEMERAL),
            )
            callback["resource"] = {"type": kind, "message": message}
        return _json(callback)

    def _webhook_interaction(self, request: web.Request) -> _Interaction:
        if _snowflake(request.match_info["application_id"]) != self.application_id:
            raise _unknown("Webhook", 10015)
        token = request.match_info["token"]
        interaction = next((i for i in self._interactions.values() if i.token == token), None)
        age = asyncio.get_running_loop().time() - (interaction.created if interaction else 0)
        if interaction is None or interaction.expired or age > self.token_lifetime:
            raise INVALID_WEBHOOK_TOKEN
        if interaction.response_type is None:
            raise _unknown("Webhook", 10015)  # no webhook until the interaction is acknowledged
        return interaction

    async def _followup(self, request: web.Request) -> web.StreamResponse:
        interaction = self._webhook_interaction(request)
        body = request[BODY]
        payload = body.payload()
        channel = self.channels[interaction.channel_id]
        self._require(channel, ATTACH_FILES if body.files else 0)  # app_permissions
        attachments = self._attachments(interaction.channel_id, payload, body.files)
        message = self._new_message(channel, self.bot_user, payload, attachments, interaction)
        interaction.message_ids.append(int(message["id"]))
        self._log("followup", message, payload, body.files, interaction)
        if not message["flags"] & EPHEMERAL:
            await self._dispatch_message("MESSAGE_CREATE", message)
        if request.query.get("wait", "").lower() not in ("1", "true"):
            return web.Response(status=204)
        return _json(message)

    async def _webhook_message(self, request: web.Request) -> web.StreamResponse:
        interaction = self._webhook_interaction(request)
        raw_id = request.match_info["message_id"]
        ids = interaction.message_ids
        message_id = ids[0] if raw_id == "@original" and ids else _snowflake(raw_id)
        if message_id not in ids or message_id not in self._messages:
            raise _unknown("Message", 10008)
        message = self._messages[message_id]
        if request.method == "DELETE":
            await self._delete(message)
            self._log("delete", message, {}, interaction=interaction)
            return web.Response(status=204)
        if request.method == "PATCH":
            body = request[BODY]
            self._require(self.channels[interaction.channel_id], ATTACH_FILES if body.files else 0)
            payload = body.payload()
            self._apply_edit(message, payload, body.files)
            kind = "edit_original" if message_id == ids[0] else "edit"
            self._log(kind, message, payload, body.files, interaction)
            if not message["flags"] & EPHEMERAL:
                await self._dispatch_message("MESSAGE_UPDATE", message)
        return _json(message)

    # -- messages --------------------------------------------------------------------------

    def _new_message(
        self,
        channel: JSON,
        author: JSON,
        payload: JSON,
        attachments: list[JSON],
        interaction: _Interaction | None = None,
    ) -> JSON:
        """Create and store a message the way Discord validates and fills one in."""
        content = str(payload.get("content") or "")
        _check_content(content)
        is_loading = bool(int(payload.get("flags") or 0) & LOADING)
        others = ("embeds", "sticker_ids", "poll", "components")
        if not (content or attachments or is_loading or any(payload.get(k) for k in others)):
            raise DiscordError(400, 50006, "Cannot send an empty message")
        referenced = self._referenced(channel, payload.get("message_reference"))
        mentioned, roles, everyone = self._mentions(
            content, payload.get("allowed_mentions"), referenced
        )
        message: JSON = {
            "id": str(self._snowflake()),
            "channel_id": channel["id"],
            "author": author,
            "content": content,
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "tts": bool(payload.get("tts")),
            "mention_everyone": everyone,
            "mentions": mentioned,
            "mention_roles": roles,
            "attachments": attachments,
            "embeds": list(payload.get("embeds") or []),
            "components": list(payload.get("components") or []),
            "pinned": False,
            "type": 19 if referenced else 0,
            "flags": int(payload.get("flags") or 0),
        }
        if channel.get("guild_id"):
            message["guild_id"] = channel["guild_id"]
        if payload.get("nonce") is not None:
            message["nonce"] = payload["nonce"]
        if referenced is not None:
            message["message_reference"] = {
                "type": 0,
                "message_id": referenced["id"],
                "channel_id": referenced["channel_id"],
                **({"guild_id": channel["guild_id"]} if channel.get("guild_id") else {}),
            }
            message["referenced_message"] = {
                k: v for k, v in referenced.items() if k != "referenced_message"
            }
        if interaction is not None:
            pushed = interaction.payload
            message["webhook_id"] = message["application_id"] = pushed["application_id"]
            if not interaction.message_ids:
                message["type"] = 20  # CHAT_INPUT_COMMAND: the original response
            message["interaction_metadata"] = {
                "id": pushed["id"],
                "type": interaction.type,
                "user": pushed["user"] if "user" in pushed else pushed["member"]["user"],
                "authorizing_integration_owners": pushed["authorizing_integration_owners"],
                "name": pushed["data"]["name"],
            }
        elif "guild_id" in message:
            message["member"] = _member()
        self._messages[int(message["id"])] = message
        channel["last_message_id"] = message["id"]
        return message

    def _apply_edit(self, message: JSON, payload: JSON, files: tuple[Upload, ...]) -> None:
        if "content" in payload:
            content = str(payload["content"] or "")
            _check_content(content)
            message["content"] = content
            mentioned, roles, everyone = self._mentions(
                content, payload.get("allowed_mentions"), None
            )
            message.update(mentions=mentioned, mention_roles=roles, mention_everyone=everyone)
        for key in ("embeds", "components"):
            if key in payload:
                message[key] = list(payload[key] or [])
        if "attachments" in payload or files:
            message["attachments"] = self._attachments(
                int(message["channel_id"]), payload, files, message["attachments"]
            )
        message["flags"] = message["flags"] & ~LOADING  # an edit ends the "thinking" state
        message["edited_timestamp"] = _now_iso()

    def _referenced(self, channel: JSON, reference: JSON | None) -> JSON | None:
        if not reference or reference.get("message_id") is None:
            return None
        target = self._messages.get(int(reference["message_id"]))
        if target is not None and target["channel_id"] == channel["id"]:
            return target
        if reference.get("fail_if_not_exists", True):
            raise _invalid_form(
                ["message_reference"], "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message"
            )
        return None

    def _mentions(
        self, content: str, allowed: JSON | None, replied: JSON | None
    ) -> tuple[list[JSON], list[str], bool]:
        """Who the message pings: without ``allowed_mentions`` everything parsed is allowed."""
        every_kind = {"users", "roles", "everyone"}
        parse = every_kind if allowed is None else set(allowed.get("parse", []))
        listed = {str(u) for u in (allowed or {}).get("users", [])}
        found = dict.fromkeys(_USER_MENTION.findall(content))
        user_ids = [u for u in found if "users" in parse or u in listed]
        if replied is not None and (allowed is None or allowed.get("replied_user")):
            user_ids.append(replied["author"]["id"])
        mentioned = [self._user(int(u)) for u in dict.fromkeys(user_ids)]
        listed_roles = {str(r) for r in (allowed or {}).get("roles", [])}
        roles = [r for r in _ROLE_MENTION.findall(content) if "roles" in parse or r in listed_roles]
        everyone = "everyone" in parse and ("@everyone" in content or "@here" in content)
        return mentioned, roles, everyone

    def _attachments(
        self,
        channel_id: int,
        payload: JSON,
        files: tuple[Upload, ...],
        existing: list[JSON] | None = None,
    ) -> list[JSON]:
        """Attachments after a send or edit: kept ones (listed by id) plus uploaded ``files[n]``."""
        described = {str(a.get("id")): a for a in payload.get("attachments") or []}
        kept = [a for a in existing or [] if "attachments" not in payload or a["id"] in described]
        for upload in files:
            if len(upload.data) > self.upload_limit:
                raise DiscordError(413, 40005, "Request entity too large")
        new = []
        for upload in files:
            match = _FILE_FIELD.fullmatch(upload.field)
            meta = described.get(match.group(1), {}) if match else {}
            spec = AttachmentSpec(upload.filename or meta.get("filename", "file"), upload.data)
            new.append(self._store_attachment(channel_id, spec, meta.get("description")))
        return kept + new

    def _store_attachment(
        self,
        channel_id: int,
        spec: AttachmentSpec,
        description: str | None = None,
        *,
        ephemeral: bool = False,
    ) -> JSON:
        """Keep the bytes where the CDN route serves them; return Discord's attachment object."""
        attachment_id = self._snowflake()
        # Discord infers the type from the name: discord.py uploads everything as octet-stream.
        content_type = spec.content_type or mimetypes.guess_type(spec.filename)[0]
        content_type = content_type or "application/octet-stream"
        self._files[(channel_id, attachment_id, spec.filename)] = (content_type, spec.data)
        now = int(time.time())
        url = (
            f"{self.base_url}/attachments/{channel_id}/{attachment_id}/{spec.filename}"
            f"?ex={now + 86_400:x}&is={now:x}&hm={secrets.token_hex(32)}&"
        )
        attachment: JSON = {
            "id": str(attachment_id),
            "filename": spec.filename,
            "size": len(spec.data),
            "url": url,
            "proxy_url": url,
            "content_type": content_type,
        }
        if description is not None:
            attachment["description"] = description
        if ephemeral:
            attachment["ephemeral"] = True
        if spec.duration_secs is not None:
            attachment["duration_secs"] = spec.duration_secs
        if spec.waveform is not None:
            attachment["waveform"] = _b64(spec.waveform)
        return attachment

    def _log(
        self,
        kind: str,
        message: JSON | None,
        payload: JSON,
        files: tuple[Upload, ...] = (),
        interaction: _Interaction | None = None,
        response_type: int | None = None,
    ) -> None:
        if interaction is not None:
            channel_id = interaction.channel_id
        else:
            assert message is not None
            channel_id = int(message["channel_id"])
        self._sent.append(
            Sent(
                kind,
                channel_id,
                message_id=int(message["id"]) if message else None,
                content=payload.get("content"),
                flags=message["flags"] if message else int(payload.get("flags") or 0),
                allowed_mentions=payload.get("allowed_mentions"),
                message_reference=payload.get("message_reference"),
                files=files,
                interaction_id=interaction.id if interaction else None,
                response_type=response_type,
                payload=payload,
            )
        )

    # -- helpers ---------------------------------------------------------------------------

    def _snowflake(self) -> int:
        """A fresh id whose timestamp is now (discord.py derives ``created_at`` from ids)."""
        now = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        self._last_id = max(now, self._last_id + 1)
        return self._last_id

    def _user(self, user_id: int) -> JSON:
        if user_id not in self.users:
            self.add_user(user_id, f"user{user_id % 10_000}", global_name="Tester")
        return self.users[user_id]

    def _channel(self, channel_id: int) -> JSON:
        if channel_id not in self.channels:
            raise LookupError(f"channel {channel_id} is unknown: add_channel or add_dm_channel")
        return self.channels[channel_id]


def _json(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    # discord.py parses a body only when Content-Type is exactly "application/json", as Discord
    # sends it; aiohttp's json_response would append "; charset=utf-8".
    headers = {**(headers or {}), "Content-Type": "application/json"}
    return web.Response(body=json.dumps(data).encode(), status=status, headers=headers)


def _member() -> JSON:
    return {"roles": [], "joined_at": _now_iso(), "deaf": False, "mute": False, "flags": 0}


def _check_content(content: str) -> None:
    if len(content) > MAX_CONTENT_LENGTH:
        raise _invalid_form(
            ["content"],
            "BASE_TYPE_MAX_LENGTH",
            f"Must be {MAX_CONTENT_LENGTH} or fewer in length.",
        )


# https://discord.com/developers/docs/reference#locales: the keys a localization dictionary
# may use (discord.py's discord.Locale holds the same list).
LOCALES = frozenset(
    "id da de en-GB en-US es-ES es-419 fr hr it lt hu nl no pl pt-BR ro fi sv-SE vi tr cs el "
    "bg ru uk hi th zh-CN ja zh-TW ko".split()
)
# https://discord.com/developers/docs/interactions/application-commands: a command's or
# option's description is 1-100 characters, in every locale.
DESCRIPTION_LIMIT = 100


def _check_localized(item: JSON, path: list[str], *, described: bool = True) -> None:
    """A command or option as Discord checks it: its description and every localization.

    `described`: a slash command or an option (context-menu commands have no description).
    """
    description = item.get("description", "")
    if described and not 1 <= len(description) <= DESCRIPTION_LIMIT:
        raise _invalid_form(
            [*path, "description"],
            "BASE_TYPE_BAD_LENGTH",
            f"Must be between 1 and {DESCRIPTION_LIMIT} in length.",
        )
    for key in ("name_localizations", "description_localizations"):
        for locale, text in (item.get(key) or {}).items():
            if locale not in LOCALES:
                # Discord names the bad key; the exact code is not documented.
                raise _invalid_form([*path, key, locale], "LOCALE_INVALID", "Invalid locale.")
            limit = DESCRIPTION_LIMIT if key == "description_localizations" else 32
            if not isinstance(text, str) or not 1 <= len(text) <= limit:
                raise _invalid_form(
                    [*path, key, locale],
                    "BASE_TYPE_BAD_LENGTH",
                    f"Must be between 1 and {limit} in length.",
                )
    for index, option in enumerate(item.get("options") or []):
        _check_localized(option, [*path, "options", str(index)])


def _rate_limit_headers(route: str, remaining: int, reset_after: float) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": "5",
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
        "X-RateLimit-Reset-After": f"{reset_after:.3f}",
        "X-RateLimit-Bucket": hashlib.md5(route.encode()).hexdigest(),
        "Via": "1.1 google",  # discord.py treats a 429 without Via as a Cloudflare ban
    }


def _rate_limited(
    route: str, retry_after: float, code: int | None, *, is_global: bool = False
) -> DiscordError:
    """A 429 as discord.com/developers/docs/topics/rate-limits describes it: the body's
    ``retry_after`` (seconds, a float) and ``global``; ``Retry-After`` in whole seconds; a global
    limit adds ``X-RateLimit-Global`` and has scope ``global`` (a route's: ``user``)."""
    body: JSON = {"message": "You are being rate limited.", "retry_after": retry_after}
    body.update({"global": is_global, **({"code": code} if code is not None else {})})
    headers = {
        **_rate_limit_headers(route, 0, retry_after),
        "X-RateLimit-Scope": "global" if is_global else "user",
        "Retry-After": str(max(1, round(retry_after + 0.5))),
    }
    if is_global:
        headers["X-RateLimit-Global"] = "true"
    return DiscordError(429, code or 0, body["message"], body=body, headers=headers)


def _interaction_token(interaction_id: int) -> str:
    raw = f"interaction:{interaction_id}:{secrets.token_urlsafe(96)}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


def _snowflake(raw: str) -> int:
    if not raw.isdigit():
        raise DiscordError(400, 50035, "Invalid Form Body")  # Discord: "Value is not snowflake."
    return int(raw)


def _snowflake_or_none(raw: Any) -> int | None:
    return int(raw) if raw is not None else None


async def _read_body(request: web.Request) -> _Body:
    """Read a JSON or multipart body (``payload_json`` plus ``files[n]``), as Discord accepts."""
    if not request.body_exists:
        return _Body()
    if request.content_type == "multipart/form-data":
        form: dict[str, str] = {}
        files: list[Upload] = []
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or part.name is None:
                continue
            if part.filename is not None:
                data = bytes(await part.read(decode=True))
                content_type = part.headers.get("Content-Type")
                files.append(Upload(part.name, part.filename, content_type, data))
            else:
                form[part.name] = await part.text()
        return _Body(None, form, tuple(files))
    try:
        return _Body(json=await request.json())
    except ValueError:
        raise DiscordError(400, 50109, "The request body contains invalid JSON.") from None
