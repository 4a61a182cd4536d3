"""One setting's value: how it is read and checked on its own, as the types of `Settings`' fields.

Each type is pydantic's `Annotated[..., BeforeValidator(...)]` (runs on the raw value from the
environment or `.env`) and/or `AfterValidator(...)` (runs on the validated value); a
`ValueError` raised here becomes the setting's one line (`bot/settings_errors.py`). `NoDecode`
keeps pydantic-settings from reading a list or dict setting as JSON, so it is parsed here.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    AnyUrl,
    BeforeValidator,
    IPvAnyNetwork,
    SecretStr,
)
from pydantic_settings import NoDecode

from core.avatar.voices import parse_voices
from core.personas import NAME
from core.proxy import parse_proxy


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


def _blank_is_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


def _split_list(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.replace(" ", ",").split(",") if part.strip()]
    return value


def _proxy_url(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    parse_proxy(value)  # ValueError: one line naming the variable
    return value.strip()


def _voices(value: object) -> object:
    if isinstance(value, dict):
        value = ",".join(f"{language}={voice}" for language, voice in value.items())
    return parse_voices(value) if isinstance(value, str) else value


def _tts_voice_list(value: object) -> object:
    if not isinstance(value, str):
        return value
    entries = [entry.strip() for entry in value.split(",") if entry.strip()]
    return dict(entry.partition("=")[::2] for entry in entries)


def _personas_json(value: object) -> object:
    if not isinstance(value, str):
        return value
    if not value.strip():
        return {}
    try:
        return json.loads(value)
    except ValueError:
        raise ValueError('must be JSON such as {"pirate": "You are a pirate."}') from None


def _personas(value: dict[str, str]) -> dict[str, str]:
    personas = {}
    for name, prompt in value.items():
        if not NAME.fullmatch(name.lower()):
            raise ValueError(f"{name!r} must be one word of a-z, 0-9, _ or - (1-32)")
        if not prompt.strip():
            raise ValueError(f"the persona {name!r} is empty")
        personas[name.lower()] = prompt.strip()
    return personas


def _origins(value: list[str]) -> list[str]:
    origins = []
    for origin in value:
        parts = urlsplit(origin.lower())
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/"):
            raise ValueError(f"{origin!r} is not an origin such as https://chat.example.com")
        origins.append(f"{parts.scheme}://{parts.netloc}")
    return origins


def _long_secret(value: SecretStr | None) -> SecretStr | None:
    if value is not None and len(value.get_secret_value()) < 32:
        raise ValueError("must be at least 32 characters (try `openssl rand -hex 32`)")
    return value


def _websocket(value: AnyUrl | None) -> AnyUrl | None:
    if value is not None and value.scheme not in ("ws", "wss"):
        raise ValueError("must be a ws:// or wss:// URL")
    return value


def _database_scheme(value: SecretStr | None) -> SecretStr | None:
    if value is None:
        return value
    scheme, _, rest = value.get_secret_value().partition("://")
    if scheme == "sqlite" and rest.startswith("/") and len(rest) > 1:
        return value
    if scheme in ("postgresql", "postgres") and rest:
        return value
    raise ValueError("must be sqlite:///path or postgresql://user:password@host:port/database")


def _public_did_webhook(value: AnyHttpUrl | None) -> AnyHttpUrl | None:
    if value is None:
        return value
    if value.query or value.fragment:
        raise ValueError("must have no query or fragment: a per-talk token ends its path")
    if value.scheme != "https" and value.host not in ("127.0.0.1", "localhost", "[::1]"):
        raise ValueError("must be a public https:// URL (http:// only on a loopback host)")
    return value


def _not_blank(value: SecretStr) -> SecretStr:
    if not value.get_secret_value().strip():
        raise ValueError("is empty")
    return value


# An empty or blank value is unset: None (no limit, for the limits).
_BLANK_IS_NONE = BeforeValidator(_blank_is_none)
_SPLIT = BeforeValidator(_split_list)

ApiKey = Annotated[SecretStr, AfterValidator(_not_blank)]
OptionalSecret = Annotated[SecretStr | None, _BLANK_IS_NONE]
OptionalHttpUrl = Annotated[AnyHttpUrl | None, _BLANK_IS_NONE]
OptionalInt = Annotated[int | None, _BLANK_IS_NONE]
OptionalFloat = Annotated[float | None, _BLANK_IS_NONE]
DatabaseUrl = Annotated[SecretStr | None, _BLANK_IS_NONE, AfterValidator(_database_scheme)]
WebSecret = Annotated[SecretStr | None, _BLANK_IS_NONE, AfterValidator(_long_secret)]
GatewayUrl = Annotated[AnyUrl | None, _BLANK_IS_NONE, AfterValidator(_websocket)]
DidWebhookUrl = Annotated[AnyHttpUrl | None, _BLANK_IS_NONE, AfterValidator(_public_did_webhook)]
ProxyUrl = Annotated[str | None, AfterValidator(_proxy_url)]
LogLevel = Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"], BeforeValidator(_upper)]

# Lists written with commas or spaces between the entries.
IntList = Annotated[list[int], NoDecode, _SPLIT]
StrList = Annotated[list[str], NoDecode, _SPLIT]
NetworkList = Annotated[list[IPvAnyNetwork], NoDecode, _SPLIT]
OriginList = Annotated[list[str], NoDecode, _SPLIT, AfterValidator(_origins)]

# `es=es-ES-ElviraNeural,de=de-DE-KatjaNeural` (D-ID) and `ar=model:voice` (Groq's TTS).
DidVoices = Annotated[dict[str, str], NoDecode, BeforeValidator(_voices)]
TtsVoices = Annotated[dict[str, str], NoDecode, BeforeValidator(_tts_voice_list)]
# JSON, `{"pirate": "You are a pirate…"}`: names lower-cased, prompts stripped.
Personas = Annotated[
    dict[str, str], NoDecode, BeforeValidator(_personas_json), AfterValidator(_personas)
]
