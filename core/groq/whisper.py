"""Speech to text with Groq Whisper."""

from __future__ import annotations

import logging

import groq

from core.errors import BadInputError
from core.groq import audio as audio_prep
from core.groq.errors import explain, is_retired_model
from core.i18n import Line
from core.types import Audio, Transcription

log = logging.getLogger(__name__)

# Whisper's languages (openai/whisper, whisper/tokenizer.py: LANGUAGES and its aliases). Groq's
# verbose_json names the detected language in English ("English", "Spanish"); OpenAI's
# lowercases it. Codes are ISO 639-1 where one exists: Whisper's "jw" is ISO "jv", and Hawaiian
# and Cantonese have none, so they keep Whisper's "haw" and "yue".
_WHISPER_LANGUAGES = (
    "en=english,zh=chinese,de=german,es=spanish,ru=russian,ko=korean,fr=french,ja=japanese,"
    "pt=portuguese,tr=turkish,pl=polish,ca=catalan,nl=dutch,ar=arabic,sv=swedish,it=italian,"
    "id=indonesian,hi=hindi,fi=finnish,vi=vietnamese,he=hebrew,uk=ukrainian,el=greek,ms=malay,"
    "cs=czech,ro=romanian,da=danish,hu=hungarian,ta=tamil,no=norwegian,th=thai,ur=urdu,"
    "hr=croatian,bg=bulgarian,lt=lithuanian,la=latin,mi=maori,ml=malayalam,cy=welsh,sk=slovak,"
    "te=telugu,fa=persian,lv=latvian,bn=bengali,sr=serbian,az=azerbaijani,sl=slovenian,"
    "kn=kannada,et=estonian,mk=macedonian,br=breton,eu=basque,is=icelandic,hy=armenian,"
    "ne=nepali,mn=mongolian,bs=bosnian,kk=kazakh,sq=albanian,sw=swahili,gl=galician,mr=marathi,"
    "pa=punjabi,si=sinhala,km=khmer,sn=shona,yo=yoruba,so=somali,af=afrikaans,oc=occitan,"
    "ka=georgian,be=belarusian,tg=tajik,sd=sindhi,gu=gujarati,am=amharic,yi=yiddish,lo=lao,"
    "uz=uzbek,fo=faroese,ht=haitian creole,ps=pashto,tk=turkmen,nn=nynorsk,mt=maltese,"
    "sa=sanskrit,lb=luxembourgish,my=myanmar,bo=tibetan,tl=tagalog,mg=malagasy,as=assamese,"
    "tt=tatar,haw=hawaiian,ln=lingala,ha=hausa,ba=bashkir,jv=javanese,su=sundanese,"
    "yue=cantonese,my=burmese,ca=valencian,nl=flemish,ht=haitian,lb=letzeburgesch,ps=pushto,"
    "pa=panjabi,ro=moldavian,ro=moldovan,si=sinhalese,es=castilian,zh=mandarin"
)
LANGUAGE_CODES: dict[str, str] = {
    name: code for code, name in (pair.split("=") for pair in _WHISPER_LANGUAGES.split(","))
}
_CODES = frozenset(LANGUAGE_CODES.values())


def language_code(name: object) -> str | None:
    """Return the ISO 639-1 code of a language Whisper names ("Spanish", "es"), or None."""
    if not isinstance(name, str):
        return None
    key = name.strip().lower()
    if key == "jw":
        return "jv"
    return key if key in _CODES else LANGUAGE_CODES.get(key)


class GroqTranscriber:
    """Transcribes audio through the `groq` SDK's `audio.transcriptions.create`."""

    def __init__(
        self,
        client: groq.AsyncGroq,
        model: str,
        max_seconds: float = audio_prep.MAX_AUDIO_SECONDS,
    ) -> None:
        self._client = client
        self._model = model
        self._max_seconds = max_seconds

    async def transcribe(self, audio: Audio) -> Transcription:
        """Return the transcript and its language; a `UserFacingError` for bad audio or service."""
        prepared = await audio_prep.prepare(audio, max_seconds=self._max_seconds)
        try:
            # verbose_json is the format that names the language Whisper detected.
            result = await self._client.audio.transcriptions.create(
                file=(prepared.filename, prepared.data, prepared.mime_type),
                model=self._model,
                response_format="verbose_json",
            )
        except groq.BadRequestError as exc:
            if is_retired_model(exc):
                raise explain(exc, model_setting="WHISPER_MODEL", service="speech") from exc
            log.info("Whisper refused the audio: %s", exc.message)
            raise BadInputError(
                Line("I couldn't hear anything in that — is it a voice recording?")
            ) from exc
        except groq.APIError as exc:
            raise explain(exc, model_setting="WHISPER_MODEL", service="speech") from exc
        text = (result.text or "").strip()
        if not text:
            raise BadInputError(Line("I couldn't hear anything in that voice message."))
        # The SDK's Transcription model declares only `text`; the rest arrives as extra fields.
        language = language_code((result.model_extra or {}).get("language"))
        return Transcription(text, language)
