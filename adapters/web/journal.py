"""The web chat's messages in the inbox: written down before they are answered, replayed after.

A voice message's bytes never go into the inbox row: they wait in an inbox attachment (a file)
until the turn is answered, then are deleted, so the database never holds a recording. A row
from before attachments may still carry its audio as base64; it is read as it is.
"""

from __future__ import annotations

import binascii
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from adapters.web.identity import tag
from adapters.web.protocol import AudioFrame, TextFrame
from core.ports import Inbox
from core.storage.inbox import InboxAttachments
from core.types import Audio, ConversationKey, Turn

log = logging.getLogger(__name__)

PLATFORM = "web"


@dataclass(frozen=True, slots=True)
class Recorded:
    """One web turn as the inbox keeps it; `user` is the sender's scope for video quotas."""

    conversation: str
    turn_id: str
    text: str | None = None
    audio: bytes | None = field(default=None, repr=False)
    mime: str = "application/octet-stream"
    user: str = ""
    lost: bool = False  # a voice message whose recording is gone

    @classmethod
    def of(cls, conversation: str, frame: TextFrame | AudioFrame, user: str) -> Recorded:
        if isinstance(frame, TextFrame):
            return cls(conversation, frame.turn, text=frame.text, user=user)
        return cls(conversation, frame.turn, audio=frame.data, mime=frame.mime, user=user)

    @property
    def key(self) -> str:
        """The inbox's message key."""
        return f"{self.conversation}/{self.turn_id}"

    def turn(self, key: ConversationKey) -> Turn:
        """The core's turn; its user is the conversation (per-user message limits)."""
        if self.audio is not None:
            return Turn(key, self.conversation, audio=Audio(self.audio, self.mime, "voice"))
        return Turn(key, self.conversation, text=self.text)


class Journal:
    """Records web turns in the inbox (audio beside it), and reads back the unanswered ones."""

    def __init__(self, inbox: Inbox, attachments: InboxAttachments) -> None:
        self._inbox, self._attachments = inbox, attachments

    async def record(self, recorded: Recorded) -> bool:
        """Write the turn down before answering it; False for a repeat."""
        payload: dict[str, str] = {
            "conversation": recorded.conversation,
            "turn": recorded.turn_id,
            "user": recorded.user,
        }
        if recorded.audio is None:
            payload["text"] = recorded.text or ""
        else:
            name = await self._attachments.put(PLATFORM, recorded.key, recorded.audio)
            payload |= {"mime": recorded.mime, "attachment": name}
        fresh = await self._inbox.record(PLATFORM, recorded.key, json.dumps(payload))
        if not fresh and "attachment" in payload:
            # A repeat of a turn answered already must not leave its recording behind.
            if await self._inbox.is_answered(PLATFORM, recorded.key):
                await self._attachments.drop(payload["attachment"])
        return fresh

    async def answered(self, recorded: Recorded) -> None:
        """Mark the turn answered and delete its recording."""
        await self._inbox.answered(PLATFORM, recorded.key)
        if recorded.audio is not None or recorded.lost:
            try:
                await self._attachments.drop(InboxAttachments.name(PLATFORM, recorded.key))
            except OSError as exc:  # the retention task deletes it later
                log.warning(
                    "could not delete the recording of web turn %s: %r", recorded.turn_id, exc
                )

    async def unanswered(self) -> list[Recorded]:
        """Take the turns no running process is answering, oldest first."""
        entries = await self._inbox.claim_unanswered(PLATFORM)
        found = []
        for entry in entries:
            try:
                found.append(await self._read(json.loads(entry.payload)))
            except (ValueError, KeyError, TypeError, binascii.Error):
                log.warning("web inbox entry %d is unreadable; skipped", entry.id)
                await self._inbox.answered(PLATFORM, entry.message_key)
        return found

    async def _read(self, data: dict[str, Any]) -> Recorded:
        conversation, turn, user = data["conversation"], data["turn"], data.get("user", "")
        if "text" in data:
            return Recorded(conversation, turn, text=data["text"], user=user)
        mime = data.get("mime", "application/octet-stream")
        if "audio" in data:  # a row from before attachments
            audio: bytes | None = binascii.a2b_base64(data["audio"], strict_mode=True)
        else:
            audio = await self._attachments.get(data.get("attachment", ""))
        if audio is None:
            log.info("web turn %s in web:%s: its recording is gone", turn, tag(conversation))
            return Recorded(conversation, turn, mime=mime, user=user, lost=True)
        return Recorded(conversation, turn, audio=audio, mime=mime, user=user)
