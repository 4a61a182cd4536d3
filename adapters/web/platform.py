"""The web chat on the core's turn runner: web turns as inbox payloads, and the view showing them.

A reset is an inbox entry too: the runner keeps it in its place among the conversation's turns.

A voice message's bytes never go into the inbox row: they wait in an inbox attachment (a file)
until the turn is answered, then are deleted, so the database never holds a recording. A row
from before attachments may still carry its audio as base64; it is read as it is.
"""

from __future__ import annotations

import binascii
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from adapters.web import messages
from adapters.web.delivery import WebDelivery
from adapters.web.frames import AudioFrame, CommandFrame, ImageFrame, ResetFrame, TextFrame
from adapters.web.identity import tag
from core.avatar.live_answer import LiveAnswer, LiveSpeakers
from core.commands import ChatCommands, Command
from core.conversation import Conversations
from core.i18n import DEFAULT_LOCALE, Line
from core.ports import Inbox
from core.storage.inbox import ATTACHMENTS, InboxAttachments
from core.turn_ports import Declined, NoVideo, View
from core.types import Audio, AvatarJob, ConversationKey, Image, InboxEntry, Turn

log = logging.getLogger(__name__)

PLATFORM = "web"
OOPS = Line("Something went wrong on my side — please try again.")
LOST = Line("I restarted before I could answer your voice message — please send it again.")
LOST_PHOTO = Line("I restarted before I could answer your photo — please send it again.")

# the frames the inbox keeps
Entered = TextFrame | AudioFrame | ImageFrame | ResetFrame | CommandFrame


def conversation_key(conversation: str) -> ConversationKey:
    return ConversationKey(PLATFORM, conversation)


def message_key(conversation: str, turn: str) -> str:
    """The inbox's key of a turn: neither part holds a "/"."""
    return f"{conversation}/{turn}"


def _parts(key: str) -> tuple[str, str]:
    conversation, _, turn = key.partition("/")
    return conversation, turn


class WebView:
    """Shows one turn in every open tab of its conversation."""

    def __init__(self, delivery: WebDelivery, conversation: str, turn: str) -> None:
        self._delivery, self._conversation, self._turn = delivery, conversation, turn
        self._streamed = 0  # characters of the answer sent as deltas so far

    async def transcript(self, text: str) -> None:
        await self._send(messages.transcript(self._turn, text))

    async def partial(self, text: str) -> None:
        # The protocol streams pieces to append: send what is new since the last update.
        piece, self._streamed = text[self._streamed :], len(text)
        await self._send(messages.delta(self._turn, piece))

    async def final(self, text: str) -> str | NoVideo:
        await self._send(messages.final(self._turn, text))
        return messages.dump_target(self._turn)

    async def plain(self, text: str) -> str | NoVideo:
        return await self.final(text)

    async def failure(self, message: str) -> None:
        await self._send(messages.error(self._turn, message, "failed"))

    async def notice(self, message: str) -> None:
        await self._send(messages.error(self._turn, message, "video_refused"))

    async def rendering(self, job: AvatarJob) -> None:
        await self._send(messages.status(self._turn, "rendering", job=job.id))

    async def spoken(self) -> None:
        """The live avatar said the answer (`LiveAnswer`): no clip comes for it."""
        await self._send(messages.status(self._turn, "spoken"))

    async def reset(self) -> None:
        await self._send(messages.status(self._turn, "reset"))

    async def command(self, text: str) -> None:
        await self._send(messages.command(self._turn, text))

    async def _send(self, message: messages.Message) -> None:
        await self._delivery.broadcast(self._conversation, message)


class WebPlatform:
    """Web turns to inbox payloads and back; `finished` hears of each turn the runner is done with.

    A payload is JSON: conversation, turn, user (the sender's address scope, for the quotas),
    and the text, the audio's MIME type and attachment name, `"reset": true`, or a command's
    name and arguments (carried out by the core's command layer in the turn's place).
    """

    name = PLATFORM

    def __init__(
        self,
        conversations: Conversations,
        commands: ChatCommands,
        delivery: WebDelivery,
        media_dir: Path,
        inbox: Inbox,
        on_finished: Callable[[str], None] = lambda key: None,
        live: LiveSpeakers | None = None,
    ) -> None:
        self._conversations, self._delivery, self._inbox = conversations, delivery, inbox
        self._commands = commands
        self._on_finished, self._live = on_finished, live
        self._attachments = InboxAttachments(media_dir)
        self._attachments_dir = media_dir / ATTACHMENTS

    async def payload(
        self, conversation: str, frame: Entered, user: str, locale: str = DEFAULT_LOCALE
    ) -> str:
        """The inbox payload of a frame; a recording is written to its attachment first."""
        data: dict[str, Any] = {"conversation": conversation, "turn": frame.turn, "user": user}
        data["locale"] = locale  # the tab's, from Accept-Language
        if isinstance(frame, TextFrame):
            return json.dumps(data | {"text": frame.text})
        if isinstance(frame, ResetFrame):
            return json.dumps(data | {"reset": True})
        if isinstance(frame, CommandFrame):
            return json.dumps(data | {"command": frame.name, "args": frame.args})
        key = message_key(conversation, frame.turn)
        name = await self._attachments.put(PLATFORM, key, frame.data)
        if isinstance(frame, ImageFrame):  # its bytes wait in the attachment, as a recording's
            data |= {"image": True, "text": frame.text}
        return json.dumps(data | {"mime": frame.mime, "attachment": name})

    async def repeated(self, key: str, payload: str) -> None:
        """A turn recorded before came again: a recording of one answered already must go."""
        name = _load(payload).get("attachment")
        if name and await self._inbox.is_answered(PLATFORM, key):
            await self._attachments.drop(name)

    def key(self, entry: InboxEntry) -> ConversationKey:
        return conversation_key(_parts(entry.message_key)[0])

    def view(self, entry: InboxEntry) -> View:
        """The turn's view; with the live avatar, its answer is said live on the way."""
        conversation, turn = _parts(entry.message_key)
        view = WebView(self._delivery, conversation, turn)
        if self._live is None:
            return view
        data = _load(entry.payload)
        user, question = str(data.get("user") or ""), str(data.get("text") or "")
        key = conversation_key(conversation)
        return LiveAnswer(view, self._live, self._conversations, key, turn, user, question)

    async def turn(self, entry: InboxEntry) -> Turn | None:
        """The core's turn; its user is the sender's address (the quotas count per address)."""
        conversation, turn = _parts(entry.message_key)
        data = _load(entry.payload)
        if not data:
            log.warning("web inbox entry %d is unreadable; declined", entry.id)
            raise Declined(OOPS)
        key, user = conversation_key(conversation), str(data.get("user") or conversation)
        locale = str(data.get("locale") or DEFAULT_LOCALE)
        if data.get("reset"):
            await self._reset(key, turn, locale)
            return None
        if "command" in data:
            name, args = str(data["command"]), str(data.get("args") or "")
            reply = await self._commands.handle(Command(key, user, name, args, locale=locale))
            await WebView(self._delivery, conversation, turn).command(reply.text)
            return None
        if data.get("image"):
            return await self._image_turn(key, user, data, locale)
        if "text" in data:
            return Turn(key, user, text=str(data["text"]), locale=locale)
        mime = str(data.get("mime") or "application/octet-stream")
        audio = await self._audio(data)
        if audio is None:
            log.info("web turn %s in web:%s: its recording is gone", turn, tag(conversation))
            raise Declined(LOST, locale=locale)
        return Turn(key, user, audio=Audio(audio, mime, "voice"), locale=locale)

    async def _image_turn(
        self, key: ConversationKey, user: str, data: dict[str, Any], locale: str
    ) -> Turn:
        """A photo and its caption, read back from its attachment (also after a restart)."""
        image = await self._attachments.get(str(data.get("attachment") or ""))
        if image is None:
            raise Declined(LOST_PHOTO, locale=locale)
        mime = str(data.get("mime") or "image/jpeg")
        caption = str(data.get("text") or "") or None
        return Turn(key, user, text=caption, image=Image(image, mime), locale=locale)

    async def _reset(self, key: ConversationKey, turn: str, locale: str) -> None:
        try:
            await self._conversations.reset(key)
        except Exception as exc:
            log.exception("web reset of web:%s failed", tag(key.chat_id))
            raise Declined(OOPS, locale=locale) from exc
        await WebView(self._delivery, key.chat_id, turn).reset()

    async def _audio(self, data: dict[str, Any]) -> bytes | None:
        if "audio" not in data:
            return await self._attachments.get(str(data.get("attachment") or ""))
        try:  # a row from before attachments
            return binascii.a2b_base64(str(data["audio"]), strict_mode=True)
        except (binascii.Error, ValueError):
            return None

    def finished(self, entry: InboxEntry, answered: bool) -> None:
        """Free what the turn held; once it is answered, its recording is deleted."""
        self._on_finished(entry.message_key)
        if answered:
            name = str(_load(entry.payload).get("attachment") or "")
            if InboxAttachments.name_is_ours(name):
                self._drop(name)

    def _drop(self, name: str) -> None:
        # One unlink, here on the loop: a done hook cannot wait for a thread.
        try:
            (self._attachments_dir / name).unlink(missing_ok=True)
        except OSError as exc:  # the retention task deletes it later
            log.warning("could not delete the recording %s: %r", name, exc)


def _load(payload: str) -> dict[str, Any]:
    try:
        data = json.loads(payload)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
