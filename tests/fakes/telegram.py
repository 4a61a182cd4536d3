"""A local Telegram Bot API server that the real python-telegram-bot talks to in tests.

Point PTB at it with ``.base_url(fake.base_url + "/bot")`` and
``.base_file_url(fake.base_url + "/file/bot")``. It serves ``/bot{token}/{method}`` (GET or POST;
query, urlencoded form, multipart or JSON parameters, like Telegram) and
``/file/bot{token}/{file_path}`` downloads. Tests push updates (text, voice, audio, video notes,
documents, mentions, replies, forum topics) that the bot fetches with long-polling
``getUpdates``; what the bot sends is kept as a per-chat transcript (``fake.sent(chat_id)``).
Errors use Telegram's shape ``{"ok": false, "error_code", "description", "parameters"}``.

Like the real server it answers 404 ``Not Found`` for a method it does not serve
(``FakeTelegram(without={"sendMessageDraft"})`` plays a server older than Bot API 9.3), 409 to
``getUpdates`` while a webhook is set, and refuses what a group's permissions deny
(``set_permissions``). ``hold_next`` holds a call as a slow upload that has not arrived yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import html
import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypedDict, TypeVar, Unpack

import aiohttp
from aiohttp import BodyPartReader, web

from tests.fakes.server import LocalServer

T = TypeVar("T")
JSON = dict[str, Any]

DEFAULT_TOKEN = "123456:TEST-fake-token"
BOT_USERNAME = "avatar_test_bot"
DEFAULT_USER_ID = 1001
MAX_TEXT_LENGTH = 4096  # characters after entity parsing
MAX_CAPTION_LENGTH = 1024
MAX_DOWNLOAD_SIZE = 20 * 1024 * 1024  # getFile refuses bigger files on the public Bot API
MAX_UPLOAD_SIZE = 50 * 1024 * 1024
MAX_POLL_TIMEOUT = 50.0

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
CONFLICT = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance "
    "is running"
)
BLOCKED = "Forbidden: bot was blocked by the user"
# A group upgraded to a supergroup: calls for the old id answer this, with
# parameters.migrate_to_chat_id (core.telegram.org/bots/api#responseparameters).
MIGRATED = "Bad Request: group chat was upgraded to a supergroup chat"
# What a group's permissions refuse (TDLib's can_send_message_content, after "Bad Request: ").
NO_RIGHTS = {
    "can_send_messages": "not enough rights to send text messages to the chat",
    "can_send_videos": "not enough rights to send videos to the chat",
    "can_send_voice_notes": "not enough rights to send voice notes to the chat",
}
# A user whose privacy settings (Telegram Premium) refuse voice notes from others.
VOICE_FORBIDDEN = "VOICE_MESSAGES_FORBIDDEN"
_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    413: "Request Entity Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
}
_CHAT_ACTIONS = frozenset(
    "typing upload_photo record_video upload_video record_voice upload_voice upload_document "
    "choose_sticker find_location record_video_note upload_video_note".split()
)
# Parameters whose form value is a plain string; every other form value is JSON-encoded.
_STRING_PARAMS = frozenset(
    "text caption parse_mode action callback_query_id inline_message_id file_id language_code "
    "business_connection_id message_effect_id url secret_token".split()
)
_API_PATH = re.compile(r"/bot([^/]*)/([A-Za-z]+)/?")
_FILE_PATH = re.compile(r"/file/bot([^/]*)/(.+)")
_COMMAND = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{5,32})?(?![\w@])")
_MENTION = re.compile(r"(?<![\w@])@[A-Za-z0-9_]{5,32}(?!\w)")


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """One file part of a multipart request."""

    field: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass(frozen=True, slots=True)
class Recorded:
    """One HTTP request the fake received, with its Bot API parameters decoded."""

    method: str
    path: str
    api_method: str | None
    headers: dict[str, str]
    query: dict[str, str]
    json: Any | None
    form: dict[str, str] | None
    files: dict[str, UploadedFile]
    params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Sent:
    """One successful call by which the bot changed a chat (send, edit, draft, action, delete)."""

    method: str
    chat_id: int
    message_id: int | None = None
    text: str | None = None
    caption: str | None = None
    parse_mode: str | None = None
    reply_to: int | None = None
    thread_id: int | None = None
    draft_id: int | None = None
    action: str | None = None
    video: bytes | None = None
    voice: bytes | None = None
    filename: str | None = None
    supports_streaming: bool | None = None
    params: dict[str, Any] = field(default_factory=dict)


class MessageContext(TypedDict, total=False):
    """Who sends a pushed message and where: the keyword arguments every ``push_*`` takes."""

    user_id: int
    chat_type: str  # "private", "group" or "supergroup"
    message_thread_id: int  # a forum topic: the chat becomes a forum supergroup
    reply_to_message_id: int
    # User.language_code: an IETF language tag ("de", "pt-br"), optional; "" leaves it out.
    language_code: str


@dataclass
class _Fault:
    status: int
    description: str
    retry_after: int | None
    chat_id: int | None
    times: int
    after: int = 0  # matching calls let through before the fault applies
    page: bool = False  # nginx's HTML page, not JSON


class HeldCall:
    """A call held by ``hold_next``: it arrived, and its upload completes on ``release()``."""

    def __init__(self) -> None:
        self.arrived = asyncio.Event()
        self.released = asyncio.Event()
        self.cut = asyncio.Event()  # the bot's connection closed before the release

    def release(self) -> None:
        self.released.set()


@dataclass
class _StoredFile:
    info: JSON
    data: bytes


# What api.telegram.org's nginx front answers when the Bot API server behind it is down or slow:
# an HTML page, not the Bot API's JSON (python-telegram-bot then raises NetworkError, its
# message noting the body did not parse).
_GATEWAY_PAGE = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
_GATEWAY_REASONS = {502: "Bad Gateway", 504: "Gateway Time-out"}


class ApiError(Exception):
    """An error answer in Telegram's shape; raise it from a method handler.

    `page`: nginx's HTML page instead (a 502 or 504 from in front of the Bot API).
    """

    def __init__(
        self,
        status: int,
        description: str,
        retry_after: int | None = None,
        *,
        page: bool = False,
        migrate_to: int | None = None,
    ) -> None:
        super().__init__(description)
        self.status, self.description, self.retry_after = status, description, retry_after
        self.page, self.migrate_to = page, migrate_to

    def response(self) -> web.Response:
        if self.page:
            reason = _GATEWAY_REASONS.get(self.status, self.description)
            html_page = _GATEWAY_PAGE.format(status=self.status, reason=reason)
            return web.Response(status=self.status, text=html_page, content_type="text/html")
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        if self.migrate_to is not None:
            body["parameters"] = {"migrate_to_chat_id": self.migrate_to}
        return web.json_response(body, status=self.status)


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


def _check_bot_command(command: object) -> None:
    if not isinstance(command, dict):
        raise _bad("Command must be non-empty")
    name = str(command.get("command") or "").strip().removeprefix("/")
    description = str(command.get("description") or "").strip()
    if not name:
        raise _bad("Command must be non-empty")
    if len(name) > 32:
        raise _bad("Command length must not exceed 32")
    if not re.fullmatch("[a-z0-9_]+", name):
        raise _bad("BOT_COMMAND_INVALID")  # what Telegram's servers answer for other characters
    if not description:
        raise _bad("Command description must be non-empty")
    if len(description) > 256:
        raise _bad("Command description length must not exceed 256")


def _markup_error(description: str) -> ApiError:
    return _bad(f"can't parse entities: {description}")


def _byte_offset(src: str, index: int) -> int:
    return len(src[:index].encode())


# MarkdownV2: these must be escaped with "\" outside entities; in code only "`" and "\".
_MD_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
# (opening marker, closing marker, entity type, Telegram's name for it), longest openers first
_MD_ENTITIES = [
    ("```", "```", "pre", "Pre"),
    ("__", "__", "underline", "Underline"),
    ("||", "||", "spoiler", "Spoiler"),
    ("![", "]", "custom_emoji", "CustomEmoji"),
    ("*", "*", "bold", "Bold"),
    ("_", "_", "italic", "Italic"),
    ("~", "~", "strikethrough", "Strikethrough"),
    ("`", "`", "code", "Code"),
    ("[", "]", "text_link", "TextUrl"),
]
_MD_CLOSERS = {kind: closer for _, closer, kind, _ in _MD_ENTITIES}
_MD_LEGACY = frozenset({"pre", "bold", "italic", "code", "text_link"})


def parse_markdown(src: str, *, legacy: bool = False) -> tuple[str, list[JSON]]:
    """Parse MarkdownV2 (or legacy Markdown) into text and entities, failing like Telegram."""
    out: list[str] = []
    entities: list[JSON] = []
    stack: list[tuple[str, int, int, str | None]] = []  # type, utf-16 start, byte offset, lang
    quote_start: int | None = None
    i = 0
    while i < len(src):
        c, top = src[i], stack[-1][0] if stack else None
        if c == "\\" and i + 1 < len(src) and 0 < ord(src[i + 1]) <= 126:
            if not legacy or src[i + 1] in "_*`[\\":
                out.append(src[i + 1])
                i += 2
                continue
        closer = _MD_CLOSERS.get(top or "")
        if top in ("pre", "code") and not src.startswith(closer or "", i):
            out.append(c)
            i += 1
            continue
        if (
            closer
            and src.startswith(closer, i)
            and not (top == "italic" and src[i : i + 2] == "__")
        ):
            kind, start, _, lang = stack.pop()
            i += len(closer)
            entity: JSON = {
                "type": kind,
                "offset": start,
                "length": utf16_len("".join(out)) - start,
            }
            if kind in ("text_link", "custom_emoji"):
                url, i = _read_md_url(src, i, kind)
                entity["url" if kind == "text_link" else "custom_emoji_id"] = url
                if not url:
                    entity["length"] = 0
            if lang:
                entity["language"] = lang
            if entity["length"] > 0:
                entities.append(entity)
            continue
        if not legacy and c == ">" and (i == 0 or src[i - 1] == "\n"):
            if quote_start is None:
                quote_start = utf16_len("".join(out))
            i += 1
            continue
        if c == "\n" and quote_start is not None and not src.startswith(">", i + 1):
            entities.append(_span("blockquote", quote_start, out))
            quote_start = None
        for marker, _, kind, _ in _MD_ENTITIES:
            if src.startswith(marker, i) and (kind in _MD_LEGACY or not legacy):
                lang = None
                j = i + len(marker)
                if kind == "pre" and (m := re.match(r"([^\s`]*)\n", src[j:])):
                    lang, j = m.group(1), j + len(m.group(0))
                stack.append((kind, utf16_len("".join(out)), _byte_offset(src, i), lang))
                i = j
                break
        else:
            if not legacy and c in _MD_RESERVED:
                raise _markup_error(
                    f"Character '{c}' is reserved and must be escaped with the preceding '\\'"
                )
            out.append(c)
            i += 1
    if stack:
        kind, _, offset, _ = stack[-1]
        name = next(name for _, _, k, name in _MD_ENTITIES if k == kind)
        raise _markup_error(f"Can't find end of {name} entity at byte offset {offset}")
    if quote_start is not None:
        entities.append(_span("blockquote", quote_start, out))
    return "".join(out), sorted(entities, key=lambda e: (e["offset"], -e["length"]))


def _span(kind: str, start: int, out: list[str]) -> JSON:
    return {"type": kind, "offset": start, "length": utf16_len("".join(out).rstrip("\n")) - start}


def _read_md_url(src: str, i: int, kind: str) -> tuple[str, int]:
    """Read the ``(url)`` after ``[text]``; inside it ")" and "\\" must be escaped."""
    if not src.startswith("(", i):
        if kind == "custom_emoji":
            raise _markup_error("Custom emoji entity must contain a tg://emoji URL")
        return "", i
    url: list[str] = []
    j = i + 1
    while j < len(src) and src[j] != ")":
        if src[j] == "\\" and j + 1 < len(src):
            j += 1
        url.append(src[j])
        j += 1
    if j >= len(src):
        raise _markup_error(f"Can't find end of a URL at byte offset {_byte_offset(src, i + 1)}")
    text = "".join(url)
    return (text.rsplit("id=", 1)[-1] if kind == "custom_emoji" else text), j + 1


_HTML_TYPES = dict(
    pair.split("=")
    for pair in "b=bold strong=bold i=italic em=italic u=underline ins=underline "
    "s=strikethrough strike=strikethrough del=strikethrough a=text_link code=code pre=pre "
    "span=spoiler tg-spoiler=spoiler tg-emoji=custom_emoji blockquote=blockquote".split()
)
_HTML_START = re.compile(
    r"<([^\s>/]*)((?:\s+[\w-]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>]+))?)*)\s*/?>"
)
_HTML_ATTR = re.compile(r"([\w-]+)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s>]+)))?")


def parse_html(src: str) -> tuple[str, list[JSON]]:
    """Parse Telegram's HTML subset into text and entities, failing like Telegram."""
    out: list[str] = []
    entities: list[JSON] = []
    stack: list[tuple[str, int, dict[str, str]]] = []  # tag, utf-16 start, attributes
    i = 0
    while i < len(src):
        c = src[i]
        if c == "&" and (m := re.match(r"&(#\d+|#x[0-9a-fA-F]+|[A-Za-z]+\d*);", src[i:])):
            out.append(html.unescape(m.group(0)))
            i += len(m.group(0))
        elif c == "<" and src.startswith("</", i):
            m = re.match(r"</([^\s>]*)\s*>", src[i:])
            if m is None:
                raise _markup_error(f"Unclosed end tag at byte offset {_byte_offset(src, i)}")
            name = m.group(1).lower()
            if not stack:
                raise _markup_error(f"Unexpected end tag at byte offset {_byte_offset(src, i)}")
            tag, start, attrs = stack.pop()
            if name != tag:
                raise _markup_error(
                    f'Unmatched end tag at byte offset {_byte_offset(src, i)}, expected "</{tag}>",'
                    f' found "</{name}>"'
                )
            entity: JSON = {"type": _HTML_TYPES[tag], "offset": start}
            entity["length"] = utf16_len("".join(out)) - start
            if tag == "a":
                entity["url"] = attrs.get("href", "")
            elif tag == "tg-emoji":
                entity["custom_emoji_id"] = attrs.get("emoji-id", "")
            elif tag == "code" and "class" in attrs and stack and stack[-1][0] == "pre":
                stack[-1][2]["language"] = attrs["class"].removeprefix("language-")
                entity["length"] = 0
            elif tag == "pre" and "language" in attrs:
                entity["language"] = attrs["language"]
            if entity["length"] > 0:
                entities.append(entity)
            i += len(m.group(0))
        elif c == "<":
            m = _HTML_START.match(src, i)
            if m is None:
                raise _markup_error(f"Unclosed start tag at byte offset {_byte_offset(src, i)}")
            tag = m.group(1).lower()
            if tag not in _HTML_TYPES:
                raise _markup_error(
                    f'Unsupported start tag "{tag}" at byte offset {_byte_offset(src, i)}'
                )
            attrs = {a.lower(): v or w or x or "" for a, v, w, x in _HTML_ATTR.findall(m.group(2))}
            if tag == "span" and attrs.get("class") != "tg-spoiler":
                raise _markup_error('Tag "span" must have class "tg-spoiler"')
            stack.append((tag, utf16_len("".join(out)), attrs))
            i = m.end()
        else:
            out.append(c)
            i += 1
    if stack:
        raise _markup_error(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return "".join(out), sorted(entities, key=lambda e: (e["offset"], -e["length"]))


def render(text: str, parse_mode: str | None, entities: Any = None) -> tuple[str, list[JSON]]:
    """Apply ``parse_mode`` (or explicit ``entities``) the way Telegram does before sending."""
    mode = (parse_mode or "").lower()
    if mode == "markdownv2":
        return parse_markdown(text)
    if mode == "markdown":
        return parse_markdown(text, legacy=True)
    if mode == "html":
        return parse_html(text)
    if mode:
        raise _bad("unsupported parse_mode")
    return text, list(entities or [])


def _decode(name: str, raw: str) -> Any:
    if name in _STRING_PARAMS:
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _as_chat_id(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _bad("chat not found") from None


class FakeTelegram(LocalServer):
    """Local Telegram Bot API server; use as ``async with FakeTelegram() as fake:``."""

    def __init__(self, token: str = DEFAULT_TOKEN, *, without: Iterable[str] = ()) -> None:
        self.token = token
        self.bot_user: JSON = {
            "id": int(token.split(":", 1)[0]),
            "is_bot": True,
            "first_name": "Avatar",
            "username": BOT_USERNAME,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.requests: list[Recorded] = []
        self.allowed_updates: list[str] | None = None
        self.commands: dict[tuple[str, str], list[JSON]] = {}  # (scope JSON, language) → list
        self.blocked: set[int] = set()
        self.voice_forbidden: set[int] = set()  # chats whose user refuses voice notes
        self._updates: list[JSON] = []
        self._next_update_id = 10_000
        self._chats: dict[int, JSON] = {}
        self._messages: dict[tuple[int, int], JSON] = {}
        self._last_message_id: dict[int, int] = {}
        self._files: dict[str, _StoredFile] = {}
        self._sent: list[Sent] = []
        self._faults: dict[str, list[_Fault]] = {}
        self._delays: dict[str, list[float]] = {}
        self._drops: dict[str, int] = {}  # method -> calls whose connection is cut unanswered
        self._holds: dict[str, list[HeldCall]] = {}
        self._carried_out: set[asyncio.Task[web.Response]] = set()  # calls being carried out
        self._observers: dict[str, list[Callable[[JSON], None]]] = {}
        self._permissions: dict[int, JSON] = {}  # group chat -> ChatPermissions
        self._closed_topics: set[tuple[int, int]] = set()  # (chat, message_thread_id)
        self._migrated: dict[str, int] = {}  # group chat id -> its supergroup's
        self._poll_generation = 0
        self.webhook: JSON | None = None
        self._changed = asyncio.Event()
        self._closed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._methods: dict[str, Callable[[JSON, dict[str, UploadedFile]], Any]] = {
            "getme": lambda p, f: self.bot_user,
            "getupdates": self._get_updates,
            "deletewebhook": self._delete_webhook,
            "setwebhook": self._set_webhook,
            "getwebhookinfo": lambda p, f: {
                "url": self.webhook["url"] if self.webhook else "",
                "has_custom_certificate": False,
                "pending_update_count": len(self._updates),
            },
            "sendmessage": self._send_message,
            "editmessagetext": self._edit_message_text,
            "sendmessagedraft": self._send_message_draft,
            "sendchataction": self._send_chat_action,
            "sendvideo": self._send_video,
            "sendvoice": self._send_voice,
            "getfile": self._get_file,
            "setmycommands": self._set_my_commands,
            "getmycommands": lambda p, f: self.commands.get(self._commands_key(p), []),
            "deletemycommands": lambda p, f: self.commands.pop(self._commands_key(p), None) or True,
            "deletemessage": self._delete_message,
            "answercallbackquery": lambda p, f: True,
        }
        # A server older than these methods answers them like any unknown method: 404.
        for name in without:
            self._methods.pop(name.lower())

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_UPLOAD_SIZE + 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self._port = self._runner.addresses[0][1]

    async def close(self) -> None:
        self._closed.set()  # ends long polls and injected delays at once
        self._notify()
        await asyncio.gather(*self._carried_out, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    # -- queries and waiting ---------------------------------------------------------------

    def calls(self, api_method: str) -> list[Recorded]:
        """Requests to one Bot API method (case-insensitive, like Telegram)."""
        return [r for r in self.requests if (r.api_method or "").lower() == api_method.lower()]

    def sent(self, chat_id: int, method: str | None = None) -> list[Sent]:
        """The transcript of what the bot did in a chat, optionally for one method."""
        return [
            s for s in self._sent if s.chat_id == chat_id and (method is None or s.method == method)
        ]

    def message(self, chat_id: int, message_id: int) -> JSON | None:
        """A message as the chat shows it now (after edits), or None if deleted or unknown."""
        return copy.deepcopy(self._messages.get((chat_id, message_id)))

    @property
    def pending_updates(self) -> list[JSON]:
        return copy.deepcopy(self._updates)

    async def wait_for(
        self,
        predicate: Callable[[], T],
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> T:
        """Wait until ``predicate()`` is truthy, re-checking on every request, send and push."""
        try:
            async with asyncio.timeout(timeout):
                while not (value := predicate()):
                    await self._changed.wait()
        except TimeoutError:
            raise TimeoutError(f"condition not met within {timeout} s") from None
        return value

    async def wait_for_sent(
        self,
        chat_id: int,
        method: str | None = None,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[Sent]:
        """Wait until the chat transcript holds at least ``count`` entries (of ``method``)."""

        def enough() -> list[Sent]:
            sent = self.sent(chat_id, method)
            return sent if len(sent) >= count else []

        return await self.wait_for(enough, timeout)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # -- fault injection -------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        status: int,
        *,
        description: str | None = None,
        retry_after: int | None = None,
        chat_id: int | None = None,
        times: int = 1,
        after: int = 0,
    ) -> None:
        """Make the next ``times`` calls of ``method`` (for ``chat_id`` only, if given) fail,
        once ``after`` of them went through.

        A 502 or 504 without a ``description`` answers nginx's HTML page, as Telegram's front
        does when the Bot API behind it fails; other statuses answer the Bot API's JSON.
        """
        if status == 429 and retry_after is None:
            retry_after = 1
        page = status in _GATEWAY_REASONS and description is None
        if description is None:
            if status == 429:
                description = f"Too Many Requests: retry after {retry_after}"
            else:
                description = _DESCRIPTIONS.get(status, "Internal Server Error")
        fault = _Fault(status, description, retry_after, chat_id, times, after, page)
        self._faults.setdefault(method.lower(), []).append(fault)

    def drop_next(self, method: str, *, times: int = 1) -> None:
        """Cut the connection of the next ``times`` calls of ``method`` before handling them.

        Telegram never sees those calls, as when the network drops them on the way.
        """
        self._drops[method.lower()] = self._drops.get(method.lower(), 0) + times

    def delay_next(self, method: str, seconds: float, *, times: int = 1) -> None:
        """Hold the next ``times`` calls of ``method`` for ``seconds`` before answering."""
        self._delays.setdefault(method.lower(), []).extend([seconds] * times)

    def hold_next(self, method: str) -> HeldCall:
        """Hold the next call of ``method`` before its body is read, as a slow upload.

        It completes once released; if the bot's connection is gone by then (the bot died
        mid-upload), Telegram never got the whole request and nothing is sent.
        """
        held = HeldCall()
        self._holds.setdefault(method.lower(), []).append(held)
        return held

    def observe(self, method: str, callback: Callable[[JSON], None]) -> None:
        """Call ``callback(params)`` as each call of ``method`` arrives, before it is handled."""
        self._observers.setdefault(method.lower(), []).append(callback)

    def set_permissions(self, chat_id: int, **permissions: bool) -> None:
        """Change a group's default permissions (``can_send_videos=False``...), like its admins."""
        self._permissions.setdefault(chat_id, {}).update(permissions)

    def _check_rights(self, chat: JSON, permission: str) -> None:
        if chat["type"] != "private" and not self._permissions.get(chat["id"], {}).get(
            permission, True
        ):
            raise _bad(NO_RIGHTS[permission])

    def user_deletes(self, chat_id: int, message_id: int) -> None:
        """The user deletes their message: a reply to it answers "Bad Request: message to be
        replied not found" unless ``reply_parameters.allow_sending_without_reply`` is set."""
        del self._messages[(chat_id, message_id)]

    def close_topic(self, chat_id: int, thread_id: int) -> None:
        """An admin closed a forum topic (closeForumTopic): sending in it answers 400
        "Bad Request: TOPIC_CLOSED", as Telegram does for a bot that does not manage topics."""
        self._closed_topics.add((chat_id, thread_id))

    def migrate(self, chat_id: int, supergroup_id: int) -> None:
        """The group became a supergroup (its history moves along): calls naming the group's id
        answer 400 with ``migrate_to_chat_id``, its messages are the supergroup's."""
        self._migrated[str(chat_id)] = supergroup_id
        chat = self._chat(supergroup_id, "supergroup")
        for (old, message_id), message in list(self._messages.items()):
            if old == chat_id:
                self._messages[(supergroup_id, message_id)] = {**message, "chat": chat}
        self._last_message_id[supergroup_id] = self._last_message_id.get(chat_id, 0)

    def block(self, chat_id: int) -> None:
        """The user blocked the bot: every call aimed at this chat gets 403."""
        self.blocked.add(chat_id)

    def unblock(self, chat_id: int) -> None:
        self.blocked.discard(chat_id)

    async def _apply_faults(self, method: str, params: JSON) -> None:
        if delays := self._delays.get(method):
            seconds = delays.pop(0)
            try:
                async with asyncio.timeout(seconds):
                    await self._closed.wait()
            except TimeoutError:
                pass
        chat_id = params.get("chat_id")
        for fault in self._faults.get(method, []):
            if fault.chat_id is None or str(fault.chat_id) == str(chat_id):
                if fault.after > 0:
                    fault.after -= 1
                    continue
                fault.times -= 1
                if fault.times <= 0:
                    self._faults[method].remove(fault)
                raise ApiError(fault.status, fault.description, fault.retry_after, page=fault.page)
        if chat_id is not None and str(chat_id) in {str(c) for c in self.blocked}:
            raise ApiError(403, BLOCKED)
        if chat_id is not None and (moved := self._migrated.get(str(chat_id))) is not None:
            raise ApiError(400, MIGRATED, migrate_to=moved)

    # -- pushing updates -------------------------------------------------------------------

    def push_update(self, update: JSON) -> JSON:
        """Queue a raw Update for getUpdates; an ``update_id`` is assigned if missing."""
        if "update_id" not in update:
            self._next_update_id += 1
            update = {"update_id": self._next_update_id, **update}
        self._next_update_id = max(self._next_update_id, update["update_id"])
        self._updates.append(update)
        self._notify()
        return update

    def push_text(
        self,
        chat_id: int,
        text: str,
        *,
        entities: list[JSON] | None = None,
        **context: Unpack[MessageContext],
    ) -> JSON:
        """A user's text message; bot commands and @mentions get entities as Telegram adds them."""
        if entities is None:
            entities = [
                {"type": "bot_command", "offset": 0, "length": utf16_len(m.group(0))}
                for m in [_COMMAND.match(text)]
                if m
            ]
            entities += [
                {
                    "type": "mention",
                    "offset": utf16_len(text[: m.start()]),
                    "length": utf16_len(m.group(0)),
                }
                for m in _MENTION.finditer(text)
            ]
        fields: JSON = {"text": text, **({"entities": entities} if entities else {})}
        return self._push_message(chat_id, fields, context)

    def push_mention(self, chat_id: int, text: str, **context: Unpack[MessageContext]) -> JSON:
        """A group message that @mentions the bot (prefixed when ``text`` lacks the mention)."""
        if f"@{BOT_USERNAME}" not in text:
            text = f"@{BOT_USERNAME} {text}"
        context.setdefault("chat_type", "group")
        return self.push_text(chat_id, text, **context)

    def push_reply_to_bot(
        self,
        chat_id: int,
        text: str,
        *,
        message_id: int | None = None,
        **context: Unpack[MessageContext],
    ) -> JSON:
        """A reply to the bot's message ``message_id`` (default: its latest one in the chat)."""
        if message_id is None:
            bot_id = self.bot_user["id"]
            mine = [
                k[1]
                for k, m in self._messages.items()
                if k[0] == chat_id and m["from"]["id"] == bot_id
            ]
            if not mine:
                raise LookupError(f"the bot has sent nothing in chat {chat_id}")
            message_id = max(mine)
        context["reply_to_message_id"] = message_id
        return self.push_text(chat_id, text, **context)

    def push_voice(
        self,
        chat_id: int,
        data: bytes,
        *,
        mime: str = "audio/ogg",
        duration: int = 1,
        file_size: int | None = None,
        caption: str | None = None,
        **context: Unpack[MessageContext],
    ) -> JSON:
        """A voice note (OGG/Opus), registered as a file that getFile can serve."""
        voice = self.add_file(data, kind="voice", ext="oga", file_size=file_size)
        voice.update(duration=duration, mime_type=mime)
        return self._push_message(chat_id, _with_caption({"voice": voice}, caption), context)

    def push_audio(
        self,
        chat_id: int,
        data: bytes,
        *,
        mime: str = "audio/mpeg",
        duration: int = 1,
        file_name: str = "audio.mp3",
        file_size: int | None = None,
        caption: str | None = None,
        **context: Unpack[MessageContext],
    ) -> JSON:
        """An audio file (music), registered as a file that getFile can serve."""
        audio = self.add_file(data, kind="music", ext=_extension(file_name), file_size=file_size)
        audio.update(duration=duration, mime_type=mime, file_name=file_name)
        return self._push_message(chat_id, _with_caption({"audio": audio}, caption), context)

    def push_video_note(
        self,
        chat_id: int,
        data: bytes,
        *,
        duration: int = 1,
        length: int = 240,
        file_size: int | None = None,
        **context: Unpack[MessageContext],
    ) -> JSON:
        """A round video note (square MP4), registered as a file that getFile can serve."""
        note = self.add_file(data, kind="video_notes", ext="mp4", file_size=file_size)
        note.update(duration=duration, length=length)
        return self._push_message(chat_id, {"video_note": note}, context)

    def push_photo(
        self,
        chat_id: int,
        sizes: list[tuple[bytes, int, int]],
        *,
        file_sizes: list[int | None] | None = None,
        caption: str | None = None,
        **context: Unpack[MessageContext],
    ) -> JSON:
        """A photo: its sizes as (JPEG bytes, width, height), smallest first, as Telegram sends
        `message.photo` (core.telegram.org/bots/api#photosize); each served by getFile."""
        claimed = file_sizes or [None] * len(sizes)
        photo = []
        for (data, width, height), size in zip(sizes, claimed, strict=True):
            info = self.add_file(data, kind="photos", ext="jpg", file_size=size)
            photo.append(info | {"width": width, "height": height})
        return self._push_message(chat_id, _with_caption({"photo": photo}, caption), context)

    def push_document(
        self,
        chat_id: int,
        data: bytes,
        *,
        mime: str = "application/octet-stream",
        file_name: str = "file.bin",
        file_size: int | None = None,
        caption: str | None = None,
        **context: Unpack[MessageContext],
    ) -> JSON:
        """A document, registered as a file that getFile can serve."""
        doc = self.add_file(data, kind="documents", ext=_extension(file_name), file_size=file_size)
        doc.update(mime_type=mime, file_name=file_name)
        return self._push_message(chat_id, _with_caption({"document": doc}, caption), context)

    def add_file(self, data: bytes, *, kind: str, ext: str, file_size: int | None = None) -> JSON:
        """Register bytes as a Telegram file; ``file_size`` may claim more than ``data`` holds."""
        n = len(self._files) + 1
        info: JSON = {
            "file_id": f"fake-file-{n}",
            "file_unique_id": f"fake-uniq-{n}",
            "file_size": len(data) if file_size is None else file_size,
        }
        self._files[info["file_id"]] = _StoredFile(
            {**info, "file_path": f"{kind}/file_{n}.{ext}"}, data
        )
        return dict(info)

    def _push_message(self, chat_id: int, fields: JSON, context: MessageContext) -> JSON:
        thread_id = context.get("message_thread_id")
        chat_type = context.get("chat_type") or ("supergroup" if thread_id is not None else None)
        chat = self._chat(chat_id, chat_type, forum=thread_id is not None)
        user_id = context.get("user_id", chat_id if chat["type"] == "private" else DEFAULT_USER_ID)
        user = {
            "id": user_id,
            "is_bot": False,
            "first_name": "Tester",
            "username": f"tester{user_id}",
        }
        if language := context.get("language_code", "en"):
            user["language_code"] = language
        message = self._new_message(
            chat, user, fields, thread_id, context.get("reply_to_message_id")
        )
        return self.push_update({"message": message})

    # -- chats and messages ----------------------------------------------------------------

    def _chat(self, chat_id: int, chat_type: str | None = None, *, forum: bool = False) -> JSON:
        chat = self._chats.get(chat_id)
        if chat is None or (chat_type and chat["type"] != chat_type):
            kind = chat_type or (
                "private" if chat_id > 0 else "supergroup" if chat_id <= -(10**12) else "group"
            )
            chat = {"id": chat_id, "type": kind}
            if kind == "private":
                chat.update(first_name="Tester", username=f"tester{chat_id}")
            else:
                chat["title"] = f"Test {kind}"
            self._chats[chat_id] = chat
        if forum:
            chat["is_forum"] = True
        return chat

    def _new_message(
        self, chat: JSON, sender: JSON, fields: JSON, thread_id: int | None, reply_to: Any
    ) -> JSON:
        chat_id = chat["id"]
        target = None
        if isinstance(reply_to, dict):  # reply_parameters
            allow_missing = reply_to.get("allow_sending_without_reply", False)
            reply_to = reply_to.get("message_id")
        else:
            allow_missing = False
        if reply_to is not None:
            target = self._messages.get((chat_id, int(reply_to)))
            if target is None and not allow_missing:
                raise _bad("message to be replied not found")
        message_id = self._last_message_id.get(chat_id, 0) + 1
        self._last_message_id[chat_id] = message_id
        message: JSON = {
            "message_id": message_id,
            "from": sender,
            "chat": chat,
            "date": _now(),
        }
        if thread_id is not None:
            message["message_thread_id"] = int(thread_id)
            if chat.get("is_forum"):
                message["is_topic_message"] = True
        if target is not None:
            message["reply_to_message"] = {
                k: v for k, v in target.items() if k != "reply_to_message"
            }
        message.update(fields)
        self._messages[(chat_id, message_id)] = message
        return copy.deepcopy(message)

    # -- HTTP ------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        api = _API_PATH.fullmatch(request.path)
        if api and self._drops.get(name := api.group(2).lower()):
            self._drops[name] -= 1
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=500)  # never sent: the connection is gone
        if api and not await self._upload_completes(api.group(2).lower(), request):
            return web.Response(status=500)  # never sent: the connection is gone
        try:
            raw_json, form, files = await _read_body(request)
        except web.HTTPRequestEntityTooLarge:
            return ApiError(413, "Request Entity Too Large").response()
        params: JSON = {k: _decode(k, v) for k, v in request.query.items()}
        params.update({k: _decode(k, v) for k, v in (form or {}).items()})
        if isinstance(raw_json, dict):
            params.update(raw_json)
        self.requests.append(
            Recorded(
                method=request.method,
                path=request.path,
                api_method=api.group(2) if api else None,
                headers=dict(request.headers),
                query=dict(request.query),
                json=raw_json,
                form=form,
                files=files,
                params=params,
            )
        )
        self._notify()
        if _FILE_PATH.fullmatch(request.path):
            return self._download(request)
        if api is None or api.group(2).lower() == "getupdates":
            return await self._answer(api, params, files)
        # Telegram carries out a call it received whole even if the bot stops waiting for the
        # answer (a read timeout): the client going away does not undo a sendMessage.
        task = asyncio.create_task(self._answer(api, params, files), name="fake-telegram-call")
        self._carried_out.add(task)
        task.add_done_callback(self._carried_out.discard)
        return await asyncio.shield(task)

    async def _answer(
        self, api: re.Match[str] | None, params: JSON, files: dict[str, UploadedFile]
    ) -> web.Response:
        try:
            if api is None:
                raise ApiError(404, "Not Found")
            token, name = api.groups()
            if token != self.token:
                raise ApiError(401, "Unauthorized")
            handler = self._methods.get(name.lower())
            if handler is None:
                raise ApiError(404, "Not Found")
            for observer in self._observers.get(name.lower(), []):
                observer(params)
            await self._apply_faults(name.lower(), params)
            result = handler(params, files)
            if asyncio.iscoroutine(result):
                result = await result
        except ApiError as error:
            return error.response()
        finally:
            self._notify()
        return web.json_response({"ok": True, "result": result})

    async def _upload_completes(self, method: str, request: web.Request) -> bool:
        """Wait out a held call; False when the bot's connection went away meanwhile."""
        if not (holds := self._holds.get(method)):
            return True
        held = holds.pop(0)
        held.arrived.set()
        self._notify()
        while not (held.released.is_set() or self._closed.is_set()):
            # aiohttp tells a handler nothing when its client goes: look at the connection.
            if request.transport is None or request.transport.is_closing():
                held.cut.set()
                self._notify()
                return False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.01):
                    await held.released.wait()
        transport = request.transport
        return held.released.is_set() and transport is not None and not transport.is_closing()

    def _download(self, request: web.Request) -> web.Response:
        match = _FILE_PATH.fullmatch(request.path)
        assert match is not None
        if match.group(1) != self.token:
            return ApiError(401, "Unauthorized").response()
        for stored in self._files.values():
            if stored.info["file_path"] == match.group(2):
                return web.Response(body=stored.data, content_type="application/octet-stream")
        return ApiError(404, "Not Found").response()

    # -- Bot API methods -------------------------------------------------------------------

    async def _get_updates(self, params: JSON, files: object) -> list[JSON]:
        if self.webhook is not None:
            raise ApiError(409, WEBHOOK_CONFLICT)
        # Telegram serves only the newest getUpdates: an older one still waiting gets 409.
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()
        offset = int(params.get("offset") or 0)
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        if "allowed_updates" in params:
            self.allowed_updates = list(params["allowed_updates"])
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(float(params.get("timeout") or 0), MAX_POLL_TIMEOUT)
        while not self._updates and not self._closed.is_set():
            if (remaining := deadline - loop.time()) <= 0:
                break
            try:
                async with asyncio.timeout(remaining):
                    await self._changed.wait()
            except TimeoutError:
                break
            if self._poll_generation != generation:
                raise ApiError(409, CONFLICT)
        return copy.deepcopy(self._updates[:limit])

    def _delete_webhook(self, params: JSON, files: object) -> bool:
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self.webhook = None
        return True

    def _set_webhook(self, params: JSON, files: object) -> bool:
        # Like Telegram: while a webhook is set, getUpdates answers 409.
        self.webhook = {
            "url": str(params["url"]),
            "secret_token": params.get("secret_token"),
            "allowed_updates": params.get("allowed_updates"),
        }
        return True

    async def post_to_webhook(self, update: JSON, *, secret: str | None = None) -> int:
        """POST an update to the registered webhook as Telegram does; return the HTTP status.

        ``secret`` overrides the header Telegram would send (the registered secret_token).
        """
        assert self.webhook is not None, "no webhook is set"
        header = self.webhook["secret_token"] if secret is None else secret
        headers = {"X-Telegram-Bot-Api-Secret-Token": header} if header else {}
        if "update_id" not in update:
            self._next_update_id += 1
            update = {"update_id": self._next_update_id, **update}
        async with aiohttp.ClientSession() as session:
            async with session.post(self.webhook["url"], json=update, headers=headers) as reply:
                return reply.status

    def _send_message(self, params: JSON, files: object) -> JSON:
        chat = self._target_chat(params)
        self._check_rights(chat, "can_send_messages")
        text, entities = _rendered(params, "text", "entities", MAX_TEXT_LENGTH)
        fields = {"text": text, **({"entities": entities} if entities else {})}
        if "link_preview_options" in params:
            fields["link_preview_options"] = params["link_preview_options"]
        message = self._bot_message(chat, params, fields)
        self._log("sendMessage", chat, params, message, text=params["text"])
        return message

    def _edit_message_text(self, params: JSON, files: object) -> JSON | bool:
        text, entities = _rendered(params, "text", "entities", MAX_TEXT_LENGTH)
        if "inline_message_id" in params:
            return True
        chat = self._target_chat(params)
        message = self._messages.get((chat["id"], int(params.get("message_id") or 0)))
        if message is None:
            raise _bad("message to edit not found")
        if message["from"]["id"] != self.bot_user["id"] or "text" not in message:
            raise _bad("message can't be edited")
        markup = params.get("reply_markup")
        old = (message["text"], message.get("entities", []), message.get("reply_markup"))
        if (text, entities, markup) == old:
            raise _bad(NOT_MODIFIED)
        message.update(text=text, entities=entities, reply_markup=markup, edit_date=_now())
        for key in ("entities", "reply_markup"):
            if not message[key]:
                del message[key]
        self._log("editMessageText", chat, params, message, text=params["text"])
        return copy.deepcopy(message)

    def _send_message_draft(self, params: JSON, files: object) -> bool:
        chat = self._target_chat(params)
        if params.get("text"):  # an empty draft shows a "Thinking..." placeholder
            _rendered(params, "text", "entities", MAX_TEXT_LENGTH)
        self._log("sendMessageDraft", chat, params, text=params.get("text"))
        return True

    def _send_chat_action(self, params: JSON, files: object) -> bool:
        chat = self._target_chat(params)
        if params.get("action") not in _CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        self._log("sendChatAction", chat, params, action=params["action"])
        return True

    def _send_video(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        chat = self._target_chat(params)
        self._check_rights(chat, "can_send_videos")
        video = params.get("video")
        upload = files.get(video.removeprefix("attach://") if isinstance(video, str) else "video")
        upload = upload or files.get("video")
        if upload is None and not video:
            raise _bad("there is no video in the request")
        fields: JSON = {}
        if params.get("caption"):
            caption, entities = _rendered(params, "caption", "caption_entities", MAX_CAPTION_LENGTH)
            fields = {"caption": caption, **({"caption_entities": entities} if entities else {})}
        if upload is not None:
            info = self.add_file(upload.data, kind="videos", ext="mp4")
            info.update(mime_type=upload.content_type, file_name=upload.filename)
        elif video in self._files:
            info = {k: v for k, v in self._files[video].info.items() if k != "file_path"}
        else:  # a URL that Telegram fetches itself
            info = self.add_file(b"", kind="videos", ext="mp4")
        for key in ("width", "height", "duration"):
            info[key] = int(params.get(key) or 0)
        message = self._bot_message(chat, params, {"video": info, **fields})
        self._log(
            "sendVideo",
            chat,
            params,
            message,
            caption=params.get("caption"),
            video=upload.data if upload else None,
            filename=upload.filename if upload else None,
            supports_streaming=params.get("supports_streaming"),
        )
        return message

    def _send_voice(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        """sendVoice (core.telegram.org/bots/api#sendvoice): an OGG/Opus upload (MP3 and M4A
        too) is a voice note; other formats may arrive as a document; at most 50 MB."""
        chat = self._target_chat(params)
        self._check_rights(chat, "can_send_voice_notes")
        if chat["id"] in self.voice_forbidden:
            raise _bad(VOICE_FORBIDDEN)
        voice = params.get("voice")
        upload = files.get(voice.removeprefix("attach://") if isinstance(voice, str) else "voice")
        upload = upload or files.get("voice")
        if upload is None:
            raise _bad("there is no voice in the request")
        fields: JSON = {}
        if params.get("caption"):
            caption, entities = _rendered(params, "caption", "caption_entities", MAX_CAPTION_LENGTH)
            fields = {"caption": caption, **({"caption_entities": entities} if entities else {})}
        if _is_ogg_opus(upload.data):
            info = self.add_file(upload.data, kind="voice", ext="oga")
            info.update(mime_type="audio/ogg", duration=int(params.get("duration") or 0))
            fields["voice"] = info
        else:
            info = self.add_file(
                upload.data, kind="documents", ext=_extension(upload.filename or "")
            )
            info.update(mime_type=upload.content_type, file_name=upload.filename)
            fields["document"] = info
        message = self._bot_message(chat, params, fields)
        self._log(
            "sendVoice",
            chat,
            params,
            message,
            caption=params.get("caption"),
            voice=upload.data,
            filename=upload.filename,
        )
        return message

    def _get_file(self, params: JSON, files: object) -> JSON:
        stored = self._files.get(str(params.get("file_id", "")))
        if stored is None:
            raise _bad("invalid file_id")
        if stored.info["file_size"] > MAX_DOWNLOAD_SIZE:
            raise _bad("file is too big")
        return dict(stored.info)

    def _set_my_commands(self, params: JSON, files: object) -> bool:
        # https://core.telegram.org/bots/api#setmycommands: at most 100 commands, each a
        # BotCommand of 1-32 characters (lowercase letters, digits, "_") and a 1-256 character
        # description; checked as TDLib's set_commands does, whose errors the Bot API passes on.
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad('parameter "commands" is required')
        if len(commands) > 100:
            raise _bad("too many commands specified")
        for command in commands:
            _check_bot_command(command)
        self.commands[self._commands_key(params)] = commands
        return True

    def _commands_key(self, params: JSON) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        language = str(params.get("language_code") or "")
        # A two-letter ISO 639-1 code or none, as TDLib's validate_bot_language_code requires.
        if language and not re.fullmatch("[a-z]{2}", language):
            raise _bad("Invalid language code specified")
        return json.dumps(scope, sort_keys=True), language

    def _delete_message(self, params: JSON, files: object) -> bool:
        chat = self._target_chat(params)
        message_id = int(params.get("message_id") or 0)
        if self._messages.pop((chat["id"], message_id), None) is None:
            raise _bad("message to delete not found")
        self._log("deleteMessage", chat, params, message_id=message_id)
        return True

    def _target_chat(self, params: JSON) -> JSON:
        if "chat_id" not in params:
            raise _bad("chat_id is empty")
        return self._chat(_as_chat_id(params["chat_id"]))

    def _bot_message(self, chat: JSON, params: JSON, fields: JSON) -> JSON:
        thread = params.get("message_thread_id")
        if thread is not None and (chat["id"], int(thread)) in self._closed_topics:
            raise _bad("TOPIC_CLOSED")
        reply = params.get("reply_parameters", params.get("reply_to_message_id"))
        return self._new_message(
            chat, self.bot_user, fields, params.get("message_thread_id"), reply
        )

    def _log(
        self, method: str, chat: JSON, params: JSON, message: JSON | None = None, **extra: Any
    ) -> None:
        if message is not None:
            reply = message.get("reply_to_message")
            extra.update(message_id=message["message_id"], reply_to=reply and reply["message_id"])
        self._sent.append(
            Sent(
                method,
                chat["id"],
                parse_mode=params.get("parse_mode"),
                thread_id=params.get("message_thread_id"),
                draft_id=params.get("draft_id"),
                params=params,
                **extra,
            )
        )


def _rendered(params: JSON, key: str, entities_key: str, limit: int) -> tuple[str, list[JSON]]:
    """The text (or caption) as the chat will show it, checked against Telegram's limits."""
    raw = params.get(key)
    text, entities = render(str(raw or ""), params.get("parse_mode"), params.get(entities_key))
    if not text.strip() and key == "text":
        raise _bad("message text is empty")
    if len(text) > limit:
        raise _bad("message caption is too long" if key == "caption" else "message is too long")
    return text, entities


def _is_ogg_opus(data: bytes) -> bool:
    """An Ogg stream whose first page carries an Opus identification header (RFC 7845)."""
    return data.startswith(b"OggS") and data[28:36] == b"OpusHead"


def _now() -> int:
    return int(time.time())


def _with_caption(fields: JSON, caption: str | None) -> JSON:
    """A caption, and the `bot_command` entity Telegram marks a command at its start with."""
    if not caption:
        return fields
    fields = {**fields, "caption": caption}
    if match := _COMMAND.match(caption):
        fields["caption_entities"] = [
            {"type": "bot_command", "offset": 0, "length": utf16_len(match[0])}
        ]
    return fields


def _extension(file_name: str) -> str:
    return file_name.rsplit(".", 1)[-1] if "." in file_name else "bin"


async def _read_body(
    request: web.Request,
) -> tuple[Any | None, dict[str, str] | None, dict[str, UploadedFile]]:
    """Read a JSON, urlencoded or multipart body the way the Bot API accepts them."""
    files: dict[str, UploadedFile] = {}
    if not request.body_exists:
        return None, None, files
    if request.content_type == "application/json":
        return await request.json(), None, files
    if request.content_type == "multipart/form-data":
        form: dict[str, str] = {}
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or part.name is None:
                continue
            if part.filename is not None:
                data = bytes(await part.read(decode=True))
                files[part.name] = UploadedFile(
                    part.name, part.filename, part.headers.get("Content-Type"), data
                )
            else:
                form[part.name] = await part.text()
        return None, form, files
    post = await request.post()
    return None, {k: str(v) for k, v in post.items()}, files
