"""The composition root: the one place that builds every part from the settings.

The services' clients are built by bot/services.py, the databases by bot/storage.py and the
platforms by bot/platforms.py; here they are put together, each part handed its collaborators.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

import groq

from bot import logs, services
from bot.metrics import PrometheusMetrics, metrics_endpoint
from bot.services import WebRoute
from bot.settings import Settings
from bot.storage import Storage, open_storage
from core.avatar.answer_voice import AnswerVoices
from core.avatar.did import DIDClient
from core.avatar.faces import FaceCommand, Faces
from core.avatar.jobs import AvatarJobs
from core.avatar.ports import VideoDelivery
from core.avatar.speech import SpeechWriter
from core.avatar.stream_budget import StreamBudget
from core.avatar.streams import DidStreamsClient
from core.avatar.voice_choice import VoiceChoice
from core.avatar.webhook import DIDWebhook
from core.commands import ChatCommands
from core.conversation import Conversations
from core.groq.chat import GroqChatModel
from core.groq.whisper import GroqTranscriber
from core.i18n import Catalogs, shipped_catalogs
from core.personas import Personas
from core.ports import Inbox
from core.prompts import ConversationSettings
from core.quota import Quotas
from core.replies import Replies, ReplyModes
from core.retention import Retention, RetentionPolicy
from core.storage.keys import ServerKeys
from core.storage.leases import InboxLeases
from core.turns import TurnRunner
from core.usage import Usage
from core.voice_answers import VoiceAnswers

__all__ = ["Core", "WebRoute", "open_core"]


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
    # The language and voice of an answer said live, told as a clip's are.
    answer_voices: AnswerVoices | None = field(default=None, kw_only=True)
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
        storage = await _storage(settings, stack)
        web_secret = await _web_secret(settings, storage.keys)
        metrics = PrometheusMetrics()
        groq_client = await services.groq_client(settings, stack, metrics)
        did_webhook = services.did_webhook(settings)
        did = await services.did_client(settings, stack, metrics, did_webhook)
        limits = services.render_limits(settings)
        quotas = Quotas(storage.counters, limits)
        await quotas.prune()
        model = GroqChatModel.create(
            groq_client, settings.LLM_MODEL, max_tokens=settings.LLM_MAX_TOKENS
        )
        picker = services.voice_picker(settings)
        speech = services.speech_writer(settings, model, picker)
        voice = services.voice_answers(settings, groq_client, speech, storage.counters)
        jobs, faces = services.avatar_jobs(
            settings, storage, did, metrics=metrics, quotas=quotas, voice=voice
        )
        if jobs is not None:
            stack.push_async_callback(jobs.aclose)
        personas = Personas(settings.SYSTEM_PROMPT, settings.PERSONAS, settings.PERSONA_MAX_CHARS)
        usage = Usage(storage.counters)
        conversations = _conversations(
            settings,
            storage,
            groq_client,
            model,
            speech,
            jobs=jobs,
            quotas=quotas,
            metrics=metrics,
            personas=personas,
            usage=usage,
        )
        catalogs = shipped_catalogs()  # the bot's own lines in every shipped language, read once
        voices = services.voice_choice(settings, storage)
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
            web_routes=services.did_routes(did_webhook),
            did_webhook=did_webhook,
            web_secret=web_secret,
            runner=TurnRunner(conversations, storage.inbox, replies=replies, catalogs=catalogs),
            catalogs=catalogs,
            commands=commands,
            faces=faces,
            voices=voices,
            did_streams=await services.did_streams(settings, stack),
            stream_budget=StreamBudget(storage.counters, limits),
            answer_voices=AnswerVoices(speech, picker, storage.preferences),
            voice=voice,
        )


async def _storage(settings: Settings, stack: AsyncExitStack) -> Storage:
    """The database, with the inbox's lease renewal and the retention task running."""
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
    policy = _retention_policy(settings)
    retention = Retention(storage.retention, settings.media_dir, policy, counters=storage.counters)
    retention.start()
    stack.push_async_callback(retention.aclose)
    return storage


def _conversations(
    settings: Settings,
    storage: Storage,
    groq_client: groq.AsyncGroq,
    model: GroqChatModel,
    speech: SpeechWriter,
    *,
    jobs: AvatarJobs | None,
    quotas: Quotas,
    metrics: PrometheusMetrics,
    personas: Personas,
    usage: Usage,
) -> Conversations:
    return Conversations(
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
        vision=services.vision_model(settings, groq_client),
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
