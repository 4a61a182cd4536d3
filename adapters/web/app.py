"""The web adapter: an aiohttp server for the chat page, its WebSocket and the rendered videos.

aiohttp runs in the bot's event loop and brings WebSockets, static files and `FileResponse`
(with HTTP range requests) without another dependency.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from aiohttp import WSCloseCode, hdrs, web

from adapters.web import audio_frames, frames, identity, messages
from adapters.web.access import Access, AccessSettings
from adapters.web.chat import WebChat
from adapters.web.delivery import Socket, WebDelivery
from adapters.web.identity import ConversationIds, MediaLinks, derive, mac, tag
from adapters.web.limits import Limiter, WebLimits, client_scope
from adapters.web.live_page import SocketPage
from adapters.web.mailbox import Mailbox
from adapters.web.platform import PLATFORM, conversation_key
from core.avatar.faces import FaceCommand
from core.avatar.live import LiveStreams
from core.commands import ChatCommands
from core.conversation import Conversations
from core.i18n import Catalogs, Line, Lines, shipped_catalogs
from core.ports import HistoryStore, Inbox
from core.turns import TurnRunner

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
# Application close codes (4000–4999): the page does not reconnect after these.
CLOSE_UNAUTHORIZED = 4401
CLOSE_TOO_MANY = 4429
# Pings keep idle connections open through proxies and notice dead peers.
HEARTBEAT_SECONDS = 30.0
CLOSE_TIMEOUT_SECONDS = 2.0
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; connect-src 'self'; media-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
UNAUTHORIZED = Line("This chat needs its access link (with ?token=…).")
CROSS_ORIGIN = Line("This chat can only be used from its own page.")


class WebAdapter:
    """Serves the web chat on `host:port`; `port` is the bound port once started.

    `secret` signs conversation ids and session cookies (WEB_SECRET, or the database's key).
    Turns are recorded in `inbox` and answered by `runner`, the core's turn runner.
    """

    platform = PLATFORM

    def __init__(
        self,
        conversations: Conversations,
        runner: TurnRunner,
        *,
        commands: ChatCommands,
        inbox: Inbox,
        host: str,
        port: int,
        secret: str,
        media_dir: Path,
        max_text_chars: int,
        access: AccessSettings | None = None,
        limits: WebLimits | None = None,
        history: HistoryStore | None = None,
        extra_routes: Sequence[tuple[str, str, Handler]] = (),
        faces: FaceCommand | None = None,
        live: LiveStreams | None = None,
        catalogs: Catalogs | None = None,
    ) -> None:
        self._conversations, self._history = conversations, history
        self._catalogs = catalogs or shipped_catalogs()
        self._host, self.port = host, port
        self.ids = ConversationIds(derive(secret, "conversation ids"))
        self._client_key = derive(secret, "clients")
        self.access = Access(access or AccessSettings(), derive(secret, "sessions"))
        links = MediaLinks(derive(secret, "media links"))
        self.delivery = WebDelivery(Mailbox(media_dir), self.ids, media_dir, links=links)
        self.routes: tuple[tuple[str, str, Handler], ...] = ()  # it serves the others' routes
        self.runner = runner
        self.chat = WebChat(
            conversations,
            commands,
            runner,
            self.delivery,
            media_dir=media_dir,
            inbox=inbox,
            max_text_chars=max_text_chars,
            limiter=Limiter(limits or WebLimits()),
            faces=faces,
            live=live,
        )
        self.live = live
        self._extra_routes = extra_routes  # read at start: other adapters add theirs before
        self._runner: web.AppRunner | None = None
        self._sockets: set[web.WebSocketResponse] = set()
        self._stopping = False

    @property
    def url(self) -> str:
        """The page's address (with the configured host, which may be 0.0.0.0)."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}/"

    async def start(self) -> None:
        """Bind the port and start serving."""
        app = web.Application()
        app.on_response_prepare.append(_security_headers)
        app.router.add_get("/", self._page)
        app.router.add_get("/healthz", self._health)
        app.router.add_get(r"/media/{job:\d{1,18}}.mp4", self._media)
        app.router.add_get(r"/media/voice/{name:[0-9a-f-]{49}}.ogg", self._voice)
        app.router.add_get("/ws", self._socket)
        app.router.add_static("/static/", STATIC_DIR)
        for method, path, handler in self._extra_routes:
            app.router.add_route(method, path, handler)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=CLOSE_TIMEOUT_SECONDS)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self.port).start()
        self.port = self._runner.addresses[0][1]
        log.info("web chat at %s", self.url)
        if replayed := await self.runner.replay(self.chat.platform):
            log.info("answering %d web message(s) left from the last run", replayed)

    async def take_over(self) -> int:
        """Answer the web messages a stopped replica left unanswered."""
        return await self.runner.replay(self.chat.platform)

    async def stop(self) -> None:
        """Close every socket (going away), take no more frames, stop the server.

        The runner's drain ran before: what it left is answered after the next start.
        """
        self._stopping = True
        if self.live is not None:
            await self.live.stop()  # D-ID stops billing the streams
        closing = [
            ws.close(code=WSCloseCode.GOING_AWAY, message=b"server stopping")
            for ws in self._sockets
        ]
        await asyncio.gather(*closing, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- routes ------------------------------------------------------------------------------

    async def _page(self, request: web.Request) -> web.StreamResponse:
        page = STATIC_DIR / "index.html"
        response = web.FileResponse(page, headers={"Cache-Control": "no-cache"})
        # The page's media and socket requests then carry the session by themselves.
        self.access.start_session(request, response)
        return response

    async def _health(self, _: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def _media(self, request: web.Request) -> web.StreamResponse:
        if not self.access.authorized(request):
            raise web.HTTPUnauthorized(text=UNAUTHORIZED)
        path = await self.delivery.video_file(int(request.match_info["job"]), request.query)
        if path is None:
            raise web.HTTPNotFound()
        # FileResponse answers Range requests with 206, so browsers can seek.
        return web.FileResponse(path, headers={"Cache-Control": "private, max-age=86400"})

    async def _voice(self, request: web.Request) -> web.StreamResponse:
        """A voice answer's OGG/Opus file, for the conversation it belongs to only."""
        if not self.access.authorized(request):
            raise web.HTTPUnauthorized(text=UNAUTHORIZED)
        path = await self.delivery.voice_file(request.match_info["name"], request.query)
        if path is None:
            raise web.HTTPNotFound()
        headers = {"Cache-Control": "private, max-age=86400", "Content-Type": "audio/ogg"}
        return web.FileResponse(path, headers=headers)

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        # Before the upgrade: a page of another site must not drive the chat from a browser.
        lines = self._lines(request)
        if not self.access.origin_allowed(request):
            raise web.HTTPForbidden(text=lines.say(CROSS_ORIGIN))
        ws = web.WebSocketResponse(
            max_msg_size=audio_frames.MAX_FRAME_BYTES,
            heartbeat=HEARTBEAT_SECONDS,
            timeout=CLOSE_TIMEOUT_SECONDS,
            # Text frames stay UTF-8 bytes: a 34 MB audio frame is not copied into a str.
            decode_text=False,
            # No permessage-deflate: 33 KB of deflated frame would make 34 MB to inflate on the
            # event loop, before any limit could count it.
            compress=False,
        )
        await ws.prepare(request)
        self._sockets.add(ws)
        try:
            if self._stopping:
                await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server stopping")
            elif not self.access.authorized(request):
                await _refuse(ws, "unauthorized", lines.say(UNAUTHORIZED), CLOSE_UNAUTHORIZED)
            else:
                await self._admit(ws, request, lines)
        finally:
            self._sockets.discard(ws)
        return ws

    def _lines(self, request: web.Request) -> Lines:
        """The bot's lines in the language the browser asks for (Accept-Language)."""
        locale = self._catalogs.accept_language(request.headers.get(hdrs.ACCEPT_LANGUAGE))
        return self._catalogs.lines(locale)

    async def _admit(self, ws: web.WebSocketResponse, request: web.Request, lines: Lines) -> None:
        client = client_scope(self.access.client_ip(request))
        limiter = self.chat.limiter
        refusal = limiter.open_socket(client)
        if refusal is not None:
            await _refuse(ws, "too_many_sockets", lines.say(refusal), CLOSE_TOO_MANY)
            return
        try:
            conversation = await self._identify(request.query.get("conversation"), client)
            user = "ip-" + mac(self._client_key, client, 12)
            socket = Socket(
                ws, conversation, client, user, lines, send_seconds=limiter.limits.send_seconds
            )
            await self._converse(socket, request)
        finally:
            limiter.close_socket(client)

    async def _identify(self, requested: str | None, client: str) -> str:
        """The conversation of a signed id; else an old unsigned one carried over; else new."""
        conversation = self.ids.verify(requested)
        if conversation is not None:
            return conversation
        # An unsigned id of an older page, or one signed under a key since changed (WEB_SECRET).
        old = identity.legacy((requested or "").partition(".")[0])
        # Only a conversation with a past is carried over, and only a few per client an hour:
        # a client cannot turn made-up ids into fresh ones.
        if old is not None and self.chat.limiter.admit_upgrade(client) and await self._known(old):
            log.info("web conversation web:%s carried over to a signed id", tag(old))
            return old
        return identity.base_of(self.ids.issue())

    async def _known(self, conversation: str) -> bool:
        if self._history is not None and await self._history.recent(
            conversation_key(conversation), 1
        ):
            return True
        return bool(await self.delivery.mailbox.after(conversation, 0, 1))

    async def _converse(self, socket: Socket, request: web.Request) -> None:
        conversations = self._conversations
        avatar = await conversations.avatar_enabled(conversation_key(socket.conversation))
        available = conversations.avatar_available
        signed = self.ids.sign(socket.conversation)
        photos = conversations.vision_available
        mode = self.live.mode if self.live is not None and available else "clip"
        ready = messages.ready(
            signed, avatar=avatar, avatar_available=available, avatar_mode=mode, photos=photos
        )
        await socket.send(ready)
        # Attached before the replay: a video filed in between comes twice rather than never
        # (the page drops repeats by job id).
        self.delivery.attach(socket)
        try:
            since = frames.job_cursor(request.query.get("since"))
            if since is not None:
                await self.delivery.replay(socket, since)
            await self.chat.serve(socket)
        finally:
            self.delivery.detach(socket)
            if self.live is not None:
                await self.live.detach(SocketPage(socket))


async def _refuse(ws: web.WebSocketResponse, code: str, message: str, close_code: int) -> None:
    await ws.send_json(messages.error("", message, code))
    await ws.close(code=close_code, message=code.encode())


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    # The page's address may carry the access token: never send it to another site.
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if request.path == "/":
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
