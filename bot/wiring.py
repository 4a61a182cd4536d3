"""The composition root: the one place that builds every part from the settings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta

import groq
import httpx
from aiohttp import web

from bot import logs
from bot.metrics import (
    PrometheusMetrics,
    did_retries,
    groq_retries,
    metrics_endpoint,
    retry_counter,
)
from bot.proxies import proxied_session
from bot.settings import Settings, url
from bot.storage import (
    Storage,
    open_storage,
)
from core.avatar.did import DIDClient, PollSchedule
from core.avatar.faces import FaceCommand, Faces
from core.avatar.jobs import AvatarJobs
from core.avatar.language import LanguageDetector
from core.avatar.speech import SpeechWriter
from core.avatar.stream_budget import StreamBudget
from core.avatar.streams import DidStreamsClient
from core.avatar.voice_choice import VoiceCatalogue, VoiceChoice
from core.avatar.voices import DEFAULT_VOICES, VoicePicker
from core.avatar.webhook import DIDWebhook
from core.commands import ChatCommands
from core.conversation import Conversations, ConversationSettings
from core.groq.chat import GroqChatModel
from core.groq.speech import GroqSpeaker, TtsVoice
from core.groq.whisper import GroqTranscriber
from core.http import pooled_client
from core.i18n import Catalogs
from core.personas import Personas
from core.ports import (
    ChatModel,
    Counters,
    Inbox,
    VideoDelivery,
)
from core.quota import Limits, Quotas
from core.replies import Replies, ReplyModes
from core.retention import (
    Retention,
    RetentionPolicy,
)
from core.storage.keys import ServerKeys
from core.storage.leases import InboxLeases
from core.turns import TurnRunner
from core.usage import Usage
from core.voice_answers import VoiceAnswers, VoiceLimits

WebRoute = tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]]

# Every conversation streaming at once holds one connection (aiohttp's pool, which keeps idle
# ones for `keepalive_expiry`; it has no separate cap on idle connections).
GROQ_POOL = httpx.Limits(max_connections=1000)
# D-ID: a few renders at a time (DID_MAX_CONCURRENT_RENDERS), their polls and video downloads.
DID_POOL = httpx.Limits(max_connections=100)


@dataclass
class Core:
    """Everything the adapters use, built once per process."""

    settings: Settings
    storage: Storage
    conversations: Conversations
    groq: groq.AsyncGroq
    did: DIDClient | None
    jobs: AvatarJobs | None
    inbox: Inbox
    metrics: PrometheusMetrics = field(default_factory=PrometheusMetrics)
    # Routes of the core the web server serves besides the platforms' (D-ID's callbacks).
    web_routes: tuple[WebRoute, ...] = ()
    # D-ID's callbacks: `listening` is set once the web server serves its route.
    did_webhook: DIDWebhook | None = None
    # Signs the web chat's conversation ids and session cookies (redacted from the log).
    web_secret: str = ""
    # The one lifecycle of every platform's messages (core/turns.py).
    runner: TurnRunner = field(kw_only=True)
    # The bot's own lines in its users' languages (core/i18n.py).
    catalogs: Catalogs = field(kw_only=True)
    # Every platform's chat commands (core/commands.py).
    commands: ChatCommands = field(kw_only=True)
    # Each chat's own avatar face (/face); None without D-ID.
    faces: Faces | None = field(default=None, kw_only=True)
    # /voice: the voices a chat can pick, kept per chat; None without D-ID.
    voices: VoiceChoice | None = field(default=None, kw_only=True)
    # The web chat's live avatar: D-ID's streaming API, and the budgets streamed seconds use.
    did_streams: DidStreamsClient | None = field(default=None, kw_only=True)
    stream_budget: StreamBudget | None = field(default=None, kw_only=True)
    # Voice answers (Groq text to speech); None with TTS_ENABLED=false.
    voice: VoiceAnswers | None = field(default=None, kw_only=True)

    async def start_jobs(self, deliveries: Mapping[str, VideoDelivery]) -> int:
        """Start the avatar jobs with every platform's delivery; resume the unfinished ones.

        The deliveries that also send voice notes deliver the voice answers from now on.
        """
        if self.voice is not None:
            self.voice.start(deliveries)
        return await self.jobs.start(deliveries) if self.jobs is not None else 0

    @property
    def deliveries(self) -> Mapping[str, VideoDelivery]:
        """The platforms' video deliveries, once the jobs were started."""
        return self.jobs.deliveries if self.jobs is not None else {}


@asynccontextmanager
async def open_core(
    settings: Settings, *, reply_mode: ReplyModes | None = None
) -> AsyncIterator[Core]:
    """Build the core; on exit cancel the avatar workers and close every connection.

    `reply_mode(key)`: the chat's choice of what follows an answer (None: as set by /reply).
    """
    async with AsyncExitStack() as stack:
        storage = await open_storage(
            settings.database_url,
            inbox_lease=settings.INBOX_LEASE_SECONDS,
            job_lease=settings.AVATAR_JOB_LEASE_SECONDS,
        )
        stack.push_async_callback(storage.close)
        leases = InboxLeases(storage.inbox, settings.INBOX_LEASE_SECONDS)
        leases.start()
        # Released once the adapters have stopped (serve() stops them before this exits).
        stack.push_async_callback(leases.aclose)
        retention = Retention(storage.retention, settings.media_dir, _retention_policy(settings))
        retention.start()
        stack.push_async_callback(retention.aclose)
        web_secret = await _web_secret(settings, storage.keys)
        metrics = PrometheusMetrics()
        groq_hooks = retry_counter(metrics, "groq", url(settings.GROQ_BASE_URL), groq_retries)
        groq_http = await stack.enter_async_context(
            pooled_client(
                GROQ_POOL,
                proxied_session(GROQ_POOL, settings.proxies.for_url(url(settings.GROQ_BASE_URL))),
                event_hooks=groq_hooks,
            )
        )
        groq_client = groq.AsyncGroq(
            api_key=settings.GROQ_API_KEY.get_secret_value(),
            base_url=url(settings.GROQ_BASE_URL),
            timeout=settings.GROQ_TIMEOUT_SECONDS,
            max_retries=settings.GROQ_MAX_RETRIES,
            http_client=groq_http,
        )
        did_webhook = _did_webhook(settings)
        did = await _did_client(settings, stack, metrics, did_webhook)
        limits = Limits(
            renders_per_user=settings.AVATAR_DAILY_LIMIT_PER_USER,
            renders_total=settings.AVATAR_DAILY_LIMIT_TOTAL,
            messages_per_minute=settings.USER_MESSAGES_PER_MINUTE,
            seconds_per_user=settings.AVATAR_DAILY_SECONDS_PER_USER,
            seconds_total=settings.AVATAR_DAILY_SECONDS_TOTAL,
        )
        quotas = Quotas(storage.counters, limits)
        await quotas.prune()
        model = GroqChatModel.create(
            groq_client, settings.LLM_MODEL, max_tokens=settings.LLM_MAX_TOKENS
        )
        speech = speech_writer(settings, model)
        voice = voice_answers(settings, groq_client, speech, storage.counters)
        jobs, faces = None, None
        if did is not None:
            faces = Faces(
                storage.faces,
                did,
                max_bytes=settings.FACE_MAX_BYTES,
                max_age=timedelta(hours=settings.FACE_URL_MAX_HOURS),
            )
            jobs = AvatarJobs(
                storage.jobs,
                did,
                settings.media_dir,
                max_renders=settings.DID_MAX_CONCURRENT_RENDERS,
                pause_seconds=settings.AVATAR_PAUSE_SECONDS,
                lease_seconds=settings.AVATAR_JOB_LEASE_SECONDS,
                metrics=metrics,
                budget=quotas,
                fallback=voice.instead_of_video if voice is not None else None,
                faces=faces,
            )
            stack.push_async_callback(jobs.aclose)
        personas = Personas(settings.SYSTEM_PROMPT, settings.PERSONAS, settings.PERSONA_MAX_CHARS)
        usage = Usage(storage.counters)
        conversations = Conversations(
            settings=ConversationSettings(
                system_prompt=settings.SYSTEM_PROMPT,
                history_limit=settings.HISTORY_MAX_MESSAGES,
                max_text_chars=settings.MAX_MESSAGE_CHARS,
                avatar_default=settings.avatar_on,
            ),
            history=storage.history,
            preferences=storage.preferences,
            model=model,
            transcriber=GroqTranscriber(groq_client, settings.WHISPER_MODEL),
            jobs=jobs,
            quotas=quotas,
            metrics=metrics,
            speech=speech,
            personas=personas,
            usage=usage,
            vision=_vision_model(settings, groq_client),
        )
        catalogs = Catalogs()  # the bot's own lines in every shipped language (core/locales)
        voices = voice_choice(settings, storage)
        commands = ChatCommands(
            conversations,
            storage.preferences,
            personas,
            usage,
            voice_available=voice is not None,
            catalogs=catalogs,
            faces=FaceCommand(faces),
            voices=voices,
        )
        replies = Replies(conversations, voice, reply_mode or conversations.reply_mode)
        if settings.METRICS_PORT is not None:
            endpoint = metrics_endpoint(metrics, settings.METRICS_HOST, settings.METRICS_PORT)
            await stack.enter_async_context(endpoint)
        yield Core(
            settings,
            storage,
            conversations,
            groq_client,
            did,
            jobs,
            storage.inbox,
            metrics,
            web_routes=_did_routes(did_webhook),
            did_webhook=did_webhook,
            web_secret=web_secret,
            runner=TurnRunner(conversations, storage.inbox, replies=replies, catalogs=catalogs),
            catalogs=catalogs,
            commands=commands,
            faces=faces,
            voices=voices,
            did_streams=await _did_streams(settings, stack),
            stream_budget=StreamBudget(storage.counters, limits),
            voice=voice,
        )


def _retention_policy(settings: Settings) -> RetentionPolicy:
    return RetentionPolicy(
        inbox_days=settings.INBOX_RETENTION_DAYS,
        history_days=settings.HISTORY_RETENTION_DAYS,
        media_days=settings.MEDIA_RETENTION_DAYS,
    )


async def _web_secret(settings: Settings, keys: ServerKeys) -> str:
    """WEB_SECRET, else the database's key (made once, shared by every replica)."""
    if not settings.WEB_ENABLED:
        return ""
    if settings.WEB_SECRET is not None:
        return settings.WEB_SECRET.get_secret_value()
    secret = await keys.get("web")
    logs.redact_also([secret])
    return secret


def _did_webhook(settings: Settings) -> DIDWebhook | None:
    if settings.DID_API_KEY is None or settings.DID_WEBHOOK_URL is None:
        return None
    return DIDWebhook(url(settings.DID_WEBHOOK_URL), settings.DID_API_KEY.get_secret_value())


def _did_routes(webhook: DIDWebhook | None) -> tuple[WebRoute, ...]:
    if webhook is None:
        return ()
    from adapters.web.did_webhook import did_webhook_route

    return (did_webhook_route(webhook),)


async def _did_client(
    settings: Settings,
    stack: AsyncExitStack,
    metrics: PrometheusMetrics,
    webhook: DIDWebhook | None = None,
) -> DIDClient | None:
    if settings.DID_API_KEY is None:
        return None
    hooks = retry_counter(metrics, "did", url(settings.DID_API_BASE_URL), did_retries)
    http = await stack.enter_async_context(
        pooled_client(
            DID_POOL,
            # The videos' downloads (D-ID's storage hosts) go the way the API calls go.
            proxied_session(DID_POOL, settings.proxies.for_url(url(settings.DID_API_BASE_URL))),
            timeout=httpx.Timeout(30.0, connect=5.0),
            event_hooks=hooks,
        )
    )
    return DIDClient(
        http,
        api_key=settings.DID_API_KEY.get_secret_value(),
        base_url=url(settings.DID_API_BASE_URL),
        source_url=url(settings.AVATAR_IMAGE_URL),
        voice_id=settings.DID_VOICE_ID,
        schedule=PollSchedule(
            first=settings.DID_POLL_FIRST_SECONDS,
            interval=settings.DID_POLL_INTERVAL_SECONDS,
            timeout=settings.DID_RENDER_TIMEOUT_SECONDS,
        ),
        webhook=webhook,
        expressions=settings.AVATAR_EXPRESSIONS,
    )


def _vision_model(settings: Settings, client: groq.AsyncGroq) -> GroqChatModel | None:
    """VISION_MODEL answers photos, on the same Groq client; unset, photos are declined."""
    if not settings.VISION_MODEL:
        return None
    return GroqChatModel.create(
        client, settings.VISION_MODEL, max_tokens=settings.LLM_MAX_TOKENS, setting="VISION_MODEL"
    )


async def _did_streams(settings: Settings, stack: AsyncExitStack) -> DidStreamsClient | None:
    """D-ID's streaming API for the web chat's live avatar, when it is on."""
    if not settings.live_avatar or settings.DID_API_KEY is None or not settings.DID_AGENT_ID:
        return None
    http = await stack.enter_async_context(
        pooled_client(DID_POOL, timeout=httpx.Timeout(15.0, connect=5.0))
    )
    return DidStreamsClient(
        http,
        api_key=settings.DID_API_KEY.get_secret_value(),
        base_url=url(settings.DID_STREAMS_BASE_URL or settings.DID_API_BASE_URL),
        agent_id=settings.DID_AGENT_ID,
    )


def speech_writer(settings: Settings, model: ChatModel) -> SpeechWriter:
    """What the avatar says: the answer's spoken script, capped, in a voice for its language."""
    voices = VoicePicker(DEFAULT_VOICES, settings.DID_VOICES, settings.DID_VOICE_ID)
    return SpeechWriter(
        max_seconds=settings.AVATAR_MAX_SECONDS,
        mode=settings.AVATAR_SCRIPT,
        voices=voices,
        detector=LanguageDetector(voices.languages),
        model=model,
    )


def voice_choice(settings: Settings, storage: Storage) -> VoiceChoice | None:
    """`/voice`, when there are videos to speak in a voice (a D-ID key)."""
    if settings.DID_API_KEY is None:
        return None
    catalogue = VoiceCatalogue(fallback=settings.DID_VOICE_ID, overrides=settings.DID_VOICES)
    return VoiceChoice(storage.preferences, catalogue)


def voice_answers(
    settings: Settings, client: groq.AsyncGroq, speech: SpeechWriter, counters: Counters
) -> VoiceAnswers | None:
    """Voice answers read by Groq's TTS on the same client as the other Groq calls."""
    if not settings.TTS_ENABLED:
        return None
    default = TtsVoice(settings.TTS_MODEL, settings.TTS_VOICE)
    speaker = GroqSpeaker(client, default, settings.tts_voices)
    limits = VoiceLimits(settings.TTS_DAILY_LIMIT_PER_USER, settings.TTS_DAILY_LIMIT_TOTAL)
    return VoiceAnswers(speaker, speech, counters, settings.media_dir, limits=limits)
