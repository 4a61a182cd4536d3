"""The life of a message, written once: record, answer, show, request the video, mark answered.

A platform plugs in as a `Platform` (core/turn_ports.py): it names the conversation of an inbox
entry, decodes the entry into a `Turn` (downloading audio if it must) and gives a `View` that
shows the answer where it was asked. The runner does the rest for every platform alike:
messages are recorded in the inbox before anything else, answered in order per conversation
and concurrently across conversations, replayed after a crash or taken over from a replica that
died, drained within a grace period on stop, and marked answered once their answer was shown,
before its video or voice note is asked for (a crash then costs that follow-up, never a second
answer).

One failure policy: an answer the model produced is saved to history by `Conversations` and is
never replaced by an apology because showing it failed. A failed transcript or partial update
is skipped (the final text follows); a failed final text is tried again, then sent the simplest
way the platform has (`View.plain`), and only if that fails too does the user get one line.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import aclosing
from typing import TypeVar

from core.conversation import Conversations
from core.i18n import Catalogs, Line, Lines, shipped_catalogs
from core.locks import KeyedLocks
from core.ports import Inbox
from core.replies import Replies
from core.turn_ports import Declined, Finishing, NoVideo, Platform, View
from core.types import (
    ConversationKey,
    Failure,
    FinalText,
    InboxEntry,
    Notice,
    TextDelta,
    Transcript,
    Turn,
)

T = TypeVar("T")
log = logging.getLogger(__name__)

NOT_SHOWN = Line("I wrote an answer but couldn't show it here — please ask again.")


class TurnRunner:
    """Answers recorded messages of every platform; owns one named task per message."""

    def __init__(
        self,
        conversations: Conversations,
        inbox: Inbox,
        *,
        final_attempts: int = 3,
        retry_backoff: float = 0.5,
        replies: Replies | None = None,
        catalogs: Catalogs | None = None,
    ) -> None:
        self._conversations, self._inbox = conversations, inbox
        # What follows an answer shown (a video, a voice note); by default the avatar video.
        self._replies = replies
        self._catalogs = catalogs or shipped_catalogs()
        self._final_attempts, self._backoff = final_attempts, retry_backoff
        self._order = KeyedLocks()
        self._tasks: dict[tuple[str, str], asyncio.Task[bool]] = {}
        self._marked: set[tuple[str, str]] = set()  # messages of `_tasks` marked answered
        self._closed = False

    async def accept(self, platform: Platform, message_key: str, payload: str) -> bool:
        """Record a message, then answer it; False when it was recorded before (a redelivery)."""
        return bool(await self.accept_many(platform, [(message_key, payload)]))

    async def accept_many(
        self, platform: Platform, messages: Sequence[tuple[str, str]]
    ) -> list[str]:
        """Record (key, payload) pairs in one statement, then answer the new ones in order.

        Returns the keys that were new. Once this returns, the messages are durable: the
        platform may tell its service they arrived.
        """
        new = await self._inbox.record_many(platform.name, messages)
        accepted = [key for key, _ in messages if key in new]
        for key, payload in messages:
            if key in new:
                self._spawn(platform, InboxEntry(0, platform.name, key, payload))
        return accepted

    async def replay(self, platform: Platform) -> int:
        """Answer the platform's recorded, unanswered messages nobody else holds."""
        entries = await self._inbox.claim_unanswered(platform.name)
        for entry in entries:
            self._spawn(platform, entry)
        return len(entries)

    async def answer(self, turn: Turn, view: View) -> str | None:
        """Answer one turn on `view`, without the inbox (the terminal); where the answer went."""
        async with self._order.hold(turn.key):
            return await self._answer(turn, view)

    async def in_order(self, key: ConversationKey, step: Callable[[], Awaitable[T]]) -> T:
        """Run a step that is no message (a reset) in its place among the conversation's turns.

        It takes its place when awaited: after the messages accepted before, ahead of later ones.
        Returns what the step returned.
        """
        async with self._order.hold(key):
            return await step()

    @property
    def running(self) -> int:
        """Messages waiting or being answered."""
        return len(self._tasks)

    async def drain(self, grace: float) -> None:
        """Take no more; give the messages in flight `grace` seconds, then cancel the rest.

        A cancelled message stays unanswered in the inbox and is answered after the next start.
        """
        self._closed = True
        tasks = list(self._tasks.values())
        if tasks and grace > 0:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            if pending:
                log.info("%d answer(s) still running after %.0fs: left for the next start",
                         len(pending), grace)  # fmt: skip
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _spawn(self, platform: Platform, entry: InboxEntry) -> None:
        slot = (entry.platform, entry.message_key)
        if slot in self._tasks:
            return  # already being answered
        if self._closed:
            _finished(platform, entry, answered=False)  # stopping: it stays in the inbox
            return
        task = asyncio.create_task(
            self._run(platform, entry), name=f"turn-{entry.platform}-{entry.message_key}"
        )
        self._tasks[slot] = task

        def done(task: asyncio.Task[bool]) -> None:
            self._tasks.pop(slot, None)
            answered = slot in self._marked  # also when cut after its answer was shown
            self._marked.discard(slot)
            _finished(platform, entry, answered=answered)

        task.add_done_callback(done)

    async def _run(self, platform: Platform, entry: InboxEntry) -> bool:
        slot = (entry.platform, entry.message_key)

        async def mark() -> None:
            if slot not in self._marked:
                await self._inbox.answered(entry.platform, entry.message_key)
                self._marked.add(slot)

        try:
            async with self._order.hold(platform.key(entry)):
                view = platform.view(entry)
                try:
                    turn = await platform.turn(entry)
                except Declined as declined:
                    said = self._catalogs.lines(declined.locale).say(declined.message)
                    await _quietly(view.failure(said), "decline")
                else:
                    if turn is not None:
                        await self._answer(turn, view, shown=mark)
            await mark()
        except asyncio.CancelledError:
            raise
        except Exception:
            # Left unanswered in the inbox: the next start (or another replica) answers it.
            log.exception("answering %s message %s failed", entry.platform, entry.message_key)
            return False
        return True

    async def _answer(
        self, turn: Turn, view: View, shown: Callable[[], Awaitable[None]] | None = None
    ) -> str | None:
        where: str | NoVideo | None = None
        lines = self._catalogs.lines(turn.locale)
        async with aclosing(self._conversations.handle(turn)) as events:
            async for event in events:
                if isinstance(event, Transcript):
                    await _quietly(view.transcript(event.text), "transcript")
                elif isinstance(event, TextDelta):
                    await _quietly(view.partial(event.text), "partial answer")
                elif isinstance(event, FinalText):
                    where = await self._show(view, event.text, lines)
                    if shown is not None:
                        # Marked answered before its video or voice note is asked for: a stop
                        # or a crash during the follow-up must not show the answer twice.
                        await shown()
                    if isinstance(where, str):
                        await self._render(turn, event, where, view)
                elif isinstance(event, Failure):
                    await _quietly(view.failure(lines.say(event.message)), "failure")
        return where if isinstance(where, str) else None

    async def _show(self, view: View, text: str, lines: Lines) -> str | NoVideo | None:
        """Show the final answer: tried again, then plainly, then one line."""
        for attempt in range(1, self._final_attempts + 1):
            try:
                return await view.final(text)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("showing an answer failed (attempt %d): %r", attempt, exc)
                if attempt < self._final_attempts:
                    await asyncio.sleep(self._backoff * attempt)
        try:
            return await view.plain(text)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("sending an answer plainly failed too: %r", exc)
        await _quietly(view.failure(lines.say(NOT_SHOWN)), "failure")
        return None

    async def _render(self, turn: Turn, answer: FinalText, target: str, view: View) -> None:
        try:
            replies, conversations = self._replies, self._conversations
            follow = replies.follow if replies is not None else conversations.render_avatar
            job = await follow(turn.key, answer.text, target, turn.user_id, answer.language)
        except Exception:
            log.exception("following the answer in %s with a video or voice failed", turn.key)
            return
        if isinstance(job, Notice):
            said = self._catalogs.lines(turn.locale).say(job.message)
            await _quietly(view.notice(said), "notice")
        elif job is not None:
            await _quietly(view.rendering(job), "rendering status")


def _finished(platform: Platform, entry: InboxEntry, *, answered: bool) -> None:
    if isinstance(platform, Finishing):
        try:
            platform.finished(entry, answered)
        except Exception:
            log.exception("finishing %s message %s failed", entry.platform, entry.message_key)


async def _quietly(step: Awaitable[None], what: str) -> None:
    """Run a view step whose failure must not cost the answer: log it and go on."""
    try:
        await step
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.warning("showing the %s failed, going on: %r", what, exc)
