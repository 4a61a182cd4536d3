"""Avatar videos to the web: filed in the conversation's mailbox, then pushed to its open tabs.

Delivery is by conversation, not by socket: every tab of a conversation gets the message, and a
page that was closed or offline gets what it missed from the mailbox when it reconnects.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path

from aiohttp import WSCloseCode, web

from adapters.web import messages
from adapters.web.identity import ConversationIds, MediaLinks, tag
from adapters.web.limits import SEND_SECONDS
from adapters.web.mailbox import Entry, Mailbox
from core.avatar.speech import video_caption
from core.i18n import DEFAULT_LOCALE, Lines, shipped_catalogs
from core.types import AvatarFailed, VideoReady, VoiceNote
from core.voice_answers import VOICE_FOLDER, note_prefix

log = logging.getLogger(__name__)

_VOICE_NAME = re.compile(r"[0-9a-f]{16}-[0-9a-f]{32}")
CLOSE_SECONDS = 2.0


# The fields of server messages that hold one of the bot's lines (a `Line`: said per tab).
_LINES = frozenset({"message", "note"})


class Socket:
    """One open WebSocket of a conversation; sending never raises once the tab has gone.

    `conversation` is the conversation's base (its key in the stores), `client` the sender's
    scope for the per-client limits (`limits.client_scope`), `user` a keyed hash of it for the
    video quotas (never the address itself). A send that takes over `send_seconds` closes it.
    """

    def __init__(
        self,
        ws: web.WebSocketResponse,
        conversation: str,
        client: str = "",
        user: str = "",
        lines: Lines | None = None,
        *,
        send_seconds: float = SEND_SECONDS,
    ) -> None:
        self.ws, self.conversation, self.client, self.user = ws, conversation, client, user
        self.lines = lines or shipped_catalogs().lines(DEFAULT_LOCALE)  # the tab's language
        self._send_seconds = send_seconds

    async def send(self, message: messages.Message) -> None:
        """Send `message`, its lines said in this tab's language; never raises."""
        if self.ws.closed:
            return
        message = {key: self.lines.say(value) if key in _LINES and isinstance(value, str)
                   else value for key, value in message.items()}  # fmt: skip
        try:
            async with asyncio.timeout(self._send_seconds):
                await self.ws.send_json(message)
        except TimeoutError:
            log.info(
                "a web socket of %s took no message for %.0f s: closed",
                tag(self.conversation),
                self._send_seconds,
            )
            await self._drop()
        except (ConnectionError, RuntimeError) as exc:
            log.debug("web socket of %s went away: %r", tag(self.conversation), exc)

    async def _drop(self) -> None:
        """Close a tab that stopped reading; every send still waiting on it ends with it."""
        # The close frame waits behind the same full buffer: cut short, aiohttp drops the
        # connection itself.
        try:
            async with asyncio.timeout(CLOSE_SECONDS):
                await self.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"too slow")
        except (TimeoutError, ConnectionError, RuntimeError) as exc:
            log.debug("closing a stalled web socket of %s: %r", tag(self.conversation), exc)


class WebDelivery:
    """The open sockets of each conversation, and the videos delivered to them.

    Videos and voice answers are linked by `links`, one signed address per file.
    """

    def __init__(
        self,
        mailbox: Mailbox,
        ids: ConversationIds,
        media_dir: Path | None = None,
        *,
        links: MediaLinks,
    ) -> None:
        self.mailbox, self._ids, self._links = mailbox, ids, links
        self._media_dir = media_dir
        self._voice_dir = None if media_dir is None else media_dir / VOICE_FOLDER
        self._sockets: defaultdict[str, set[Socket]] = defaultdict(set)

    def attach(self, socket: Socket) -> None:
        self._sockets[socket.conversation].add(socket)

    def detach(self, socket: Socket) -> None:
        sockets = self._sockets.get(socket.conversation)
        if sockets is not None:
            sockets.discard(socket)
            if not sockets:
                del self._sockets[socket.conversation]

    def sockets(self, conversation: str | None = None) -> list[Socket]:
        """The open sockets of one conversation, or of all of them."""
        if conversation is not None:
            return list(self._sockets.get(conversation, ()))
        return [socket for sockets in self._sockets.values() for socket in sockets]

    async def broadcast(self, conversation: str, message: messages.Message) -> None:
        """Send to every open tab of the conversation (none is fine)."""
        sockets = self.sockets(conversation)
        await asyncio.gather(*(socket.send(message) for socket in sockets))

    async def deliver_video(self, ready: VideoReady) -> None:
        """File the video for the conversation, then show it in its open tabs."""
        job, conversation = ready.job, ready.job.key.chat_id
        turn = messages.load_target(job.target)
        await self.mailbox.put_video(conversation, job.id, turn, ready.path)
        note = video_caption(job)
        await self.broadcast(conversation, self.video(turn, job.id, note))

    async def deliver_failure(self, failed: AvatarFailed) -> None:
        """File why no video is coming, then say so in the open tabs."""
        job, conversation = failed.job, failed.job.key.chat_id
        turn = messages.load_target(job.target)
        await self.mailbox.put_failure(conversation, job.id, turn, failed.message)
        await self.broadcast(conversation, _failure(turn, job.id, failed.message))

    async def deliver_voice(self, note: VoiceNote) -> None:
        """Show the voice answer under its answer in the conversation's open tabs.

        Unlike videos it is not filed in the mailbox: a tab opened later does not get it.
        """
        conversation, turn = note.key.chat_id, messages.load_target(note.target)
        name = note.path.stem
        url = messages.voice_url(name, self._links.sign(f"voice/{name}.ogg"))
        await self.broadcast(conversation, messages.voice(turn, url, note.seconds, note.caption))

    async def video_file(self, job: int, query: Mapping[str, str]) -> Path | None:
        """The file a video link asks for: signed for that video, or (links of older pages)
        carrying its conversation's signed id."""
        if self._links.valid(f"{job}.mp4", query.get("sig")):
            if self._media_dir is None:
                return None
            path = self._media_dir / f"avatar-{job}.mp4"  # the job's own (job_render.py)
            return path if await asyncio.to_thread(path.is_file) else None
        conversation = self._ids.verify(query.get("conversation"))
        return None if conversation is None else await self.mailbox.video(conversation, job)

    async def voice_file(self, name: str, query: Mapping[str, str]) -> Path | None:
        """The path of voice note `name` (`core.voice_answers.note_path`) for a link to it:
        signed for it, or (older pages) carrying its conversation's signed id."""
        from adapters.web.platform import conversation_key  # platform.py imports this module

        if self._voice_dir is None or not _VOICE_NAME.fullmatch(name):
            return None
        if not self._links.valid(f"voice/{name}.ogg", query.get("sig")):
            conversation = self._ids.verify(query.get("conversation"))
            if conversation is None:
                return None
            if not name.startswith(note_prefix(conversation_key(conversation)) + "-"):
                return None
        path = self._voice_dir / f"{name}.ogg"
        return path if await asyncio.to_thread(path.is_file) else None

    async def replay(self, socket: Socket, since: int) -> None:
        """Send one socket what its conversation finished after job `since`."""
        for entry in await self.mailbox.after(socket.conversation, since):
            await socket.send(self._message(entry))

    def video(self, turn: str, job: int, note: str | None = None) -> messages.Message:
        """The `video` message; its URL is signed for that video alone."""
        return messages.video(turn, job, self._links.sign(f"{job}.mp4"), note)

    def _message(self, entry: Entry) -> messages.Message:
        if entry.error is not None:
            return _failure(entry.turn, entry.job, entry.error)
        return self.video(entry.turn, entry.job)


def _failure(turn: str, job: int, message: str) -> messages.Message:
    return messages.error(turn, message, "video_failed", job=job)
