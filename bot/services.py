"""Builders of the services' clients from the settings: Groq, D-ID (clips, live streams, the
webhook) and what the avatar and the voice answers say. Only the composition root calls them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import timedelta

import groq
import httpx
from aiohttp import web

from bot.metrics import PrometheusMetrics, did_retries, groq_retries, retry_counter
from bot.proxies import proxied_session
from bot.settings import Settings, url
from bot.storage import Storage
from core.avatar.did import DIDClient
from core.avatar.did_polling import PollSchedule
from core.avatar.faces import Faces
from core.avatar.jobs import AvatarJobs
from core.avatar.language import LanguageDetector
from core.avatar.speech import SpeechWriter
from core.avatar.streams import DidStreamsClient
from core.avatar.voice_choice import VoiceCatalogue, VoiceChoice
from core.avatar.voices import DEFAULT_VOICES, VoicePicker
from core.avatar.webhook import DIDWebhook
from core.groq.chat import GroqChatModel
from core.groq.speech import GroqSpeaker, TtsVoice
from core.http import pooled_client
from core.limits import Limits
from core.ports import ChatModel, Counters
from core.quota import Quotas
from core.voice_answers import VoiceAnswers, VoiceLimits

WebRoute = tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]]

# Every conversation streaming at once holds one connection (aiohttp's pool, which keeps idle
# ones for `keepalive_expiry`; it has no separate cap on idle connections).
GROQ_POOL = httpx.Limits(max_connections=1000)
# D-ID: a few renders at a time (DID_MAX_CONCURRENT_RENDERS), their polls and video downloads.
DID_POOL = httpx.Limits(max_connections=100)


async def groq_client(
    settings: Settings, stack: AsyncExitStack, metrics: PrometheusMetrics
) -> groq.AsyncGroq:
    """The groq SDK on the shared aiohttp pool (through the proxy for GROQ_BASE_URL, if any)."""
    base = url(settings.GROQ_BASE_URL)
    http = await stack.enter_async_context(
        pooled_client(
            GROQ_POOL,
            proxied_session(GROQ_POOL, settings.proxies.for_url(base)),
            event_hooks=retry_counter(metrics, "groq", base, groq_retries),
        )
    )
    return groq.AsyncGroq(
        api_key=settings.GROQ_API_KEY.get_secret_value(),
        base_url=base,
        timeout=settings.GROQ_TIMEOUT_SECONDS,
        max_retries=settings.GROQ_MAX_RETRIES,
        http_client=http,
    )


def render_limits(settings: Settings) -> Limits:
    """The daily video budgets, the per-user message rate and the day's answered messages."""
    return Limits(
        renders_per_user=settings.AVATAR_DAILY_LIMIT_PER_USER,
        renders_total=settings.AVATAR_DAILY_LIMIT_TOTAL,
        messages_per_minute=settings.USER_MESSAGES_PER_MINUTE,
        messages_total=settings.MESSAGES_DAILY_LIMIT_TOTAL,
        seconds_per_user=settings.AVATAR_DAILY_SECONDS_PER_USER,
        seconds_total=settings.AVATAR_DAILY_SECONDS_TOTAL,
    )


def avatar_jobs(
    settings: Settings,
    storage: Storage,
    did: DIDClient | None,
    *,
    metrics: PrometheusMetrics,
    quotas: Quotas,
    voice: VoiceAnswers | None,
) -> tuple[AvatarJobs | None, Faces | None]:
    """The durable render jobs and the chats' own faces, with a D-ID key (else neither)."""
    if did is None:
        return None, None
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
    return jobs, faces


def did_webhook(settings: Settings) -> DIDWebhook | None:
    if settings.DID_API_KEY is None or settings.DID_WEBHOOK_URL is None:
        return None
    return DIDWebhook(url(settings.DID_WEBHOOK_URL), settings.DID_API_KEY.get_secret_value())


def did_routes(webhook: DIDWebhook | None) -> tuple[WebRoute, ...]:
    if webhook is None:
        return ()
    from adapters.web.did_webhook import did_webhook_route

    return (did_webhook_route(webhook),)


async def did_client(
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


def vision_model(settings: Settings, client: groq.AsyncGroq) -> GroqChatModel | None:
    """VISION_MODEL answers photos, on the same Groq client; unset, photos are declined."""
    if not settings.VISION_MODEL:
        return None
    return GroqChatModel.create(
        client, settings.VISION_MODEL, max_tokens=settings.LLM_MAX_TOKENS, setting="VISION_MODEL"
    )


async def did_streams(settings: Settings, stack: AsyncExitStack) -> DidStreamsClient | None:
    """D-ID's streaming API for the web chat's live avatar, when it is on."""
    if not settings.live_avatar or settings.DID_API_KEY is None or not settings.DID_AGENT_ID:
        return None
    base = url(settings.DID_STREAMS_BASE_URL or settings.DID_API_BASE_URL)
    http = await stack.enter_async_context(
        pooled_client(
            DID_POOL,
            proxied_session(DID_POOL, settings.proxies.for_url(base)),
            timeout=httpx.Timeout(15.0, connect=5.0),
        )
    )
    return DidStreamsClient(
        http,
        api_key=settings.DID_API_KEY.get_secret_value(),
        base_url=base,
        agent_id=settings.DID_AGENT_ID,
    )


def voice_picker(settings: Settings) -> VoicePicker:
    """The avatar's voice for each language (DID_VOICES, DID_VOICE_ID, the built-in defaults)."""
    return VoicePicker(DEFAULT_VOICES, settings.DID_VOICES, settings.DID_VOICE_ID)


def speech_writer(settings: Settings, model: ChatModel, voices: VoicePicker) -> SpeechWriter:
    """What the avatar says: the answer's spoken script, capped, in a voice for its language."""
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
