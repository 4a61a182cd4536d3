"""The avatar's expression follows the script's tone: the classifier, the talk body, fake D-ID."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.avatar.did import DIDClient, PollSchedule
from core.avatar.expressions import driver_expressions, expressions, tone
from tests.fakes.did import FakeDID
from tests.fakes.groq import FakeGroq
from tests.harness import settings_for, terminal


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("The capital of France is Paris.", ("neutral", 0.0)),
        ("Hello there!", ("happy", 0.5)),
        ("Congratulations on the new job!", ("happy", 0.75)),
        ("That is great, I am so glad you enjoy it.", ("happy", 1.0)),
        ("I'm sorry to hear about your loss.", ("serious", 0.5)),
        ("Unfortunately that is dangerous, be careful.", ("serious", 1.0)),
        ("Sorry, but congrats anyway.", ("serious", 0.5)),  # a tie is the serious kind
        ("Wow, that is amazing.", ("surprise", 0.75)),
        ("You did what?!", ("surprise", 0.75)),
        ("¡Felicidades por tu cumpleaños!", ("happy", 0.75)),
        ("Lo siento mucho.", ("serious", 0.5)),
        ("Félicitations, c'est génial !", ("happy", 1.0)),
        ("Leider geht das heute nicht.", ("serious", 0.5)),
        ("Das ist unglaublich.", ("surprise", 0.5)),
        ("Parabéns pelo trabalho!", ("happy", 0.75)),
        ("Purtroppo non è possibile.", ("serious", 0.5)),
        ("Gladys funds the sorrowful wowser.", ("neutral", 0.0)),  # cues are whole words
    ],
)
def test_tone_of_a_sentence(sentence: str, expected: tuple[str, float]) -> None:
    assert tone(sentence) == expected


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("Paris is the capital. It has two million people.", []),
        ("Great news! The parcel arrived.", [(0, "happy", 0.75)]),  # a plain sentence keeps it
        # 5 words before the happy sentence: 2 s of speech at 2.5 words/s, 50 frames at 25 fps.
        (
            "Here is the forecast today. Lovely, a great sunny day!",
            [(0, "neutral", 0.0), (50, "happy", 0.75)],
        ),
        (
            "I am sorry it broke. Wow, the fix is amazing! Great!",
            [(0, "serious", 0.5), (50, "surprise", 1.0), (100, "happy", 0.75)],
        ),
        ("Great! Good! Fun!", [(0, "happy", 0.75)]),  # no change, one expression
    ],
)
def test_expressions_along_a_script(script: str, expected: list[tuple[int, str, float]]) -> None:
    assert [(e.start_frame, e.expression, e.intensity) for e in expressions(script)] == expected


def test_driver_expressions_is_d_ids_shape_and_none_when_neutral() -> None:
    assert driver_expressions("Paris is the capital.") is None
    assert driver_expressions("Congratulations!") == {
        "expressions": [{"start_frame": 0, "expression": "happy", "intensity": 0.75}],
        "transition_frames": 20,
    }


# -- the talk body, against fake D-ID ------------------------------------------------------------


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=2.0) as client:
        yield client


def renderer(did: FakeDID, http: httpx.AsyncClient, *, expressions: bool) -> DIDClient:
    return DIDClient(
        http,
        api_key=did.api_key,
        base_url=did.base_url,
        source_url="https://example.com/face.jpg",
        voice_id="en-US-JennyNeural",
        schedule=PollSchedule(first=0.01, interval=0.01, timeout=5.0),
        backoff=0.0,
        expressions=expressions,
    )


async def test_the_talk_carries_the_expression_and_fake_did_takes_it(
    did: FakeDID, http: httpx.AsyncClient
) -> None:
    talk_id = await renderer(did, http, expressions=True).submit("Congratulations, well done!")
    config = did.talks[talk_id].request["config"]
    assert config["driver_expressions"] == {
        "expressions": [{"start_frame": 0, "expression": "happy", "intensity": 1.0}],
        "transition_frames": 20,
    }
    assert config["stitch"] is True


async def test_no_expression_when_switched_off_or_neutral(
    did: FakeDID, http: httpx.AsyncClient
) -> None:
    off = await renderer(did, http, expressions=False).submit("Congratulations, well done!")
    neutral = await renderer(did, http, expressions=True).submit("Paris is the capital.")
    assert "driver_expressions" not in did.talks[off].request["config"]
    assert "driver_expressions" not in did.talks[neutral].request["config"]


@pytest.mark.parametrize("switch", [True, False])
async def test_avatar_expressions_setting_reaches_the_talk(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, switch: bool
) -> None:
    groq.reply = "Congratulations on your exam!"
    settings = settings_for(tmp_path, groq, did, AVATAR_EXPRESSIONS=switch)
    async with terminal(settings) as (chat, screen, _):
        await chat.handle("I passed my exam")
        await screen.wait_for("avatar video ready")
    (talk,) = did.talks.values()
    driver = talk.request["config"].get("driver_expressions")
    if switch:
        assert driver is not None and driver["expressions"][0]["expression"] == "happy"
    else:
        assert driver is None


@pytest.mark.parametrize(
    ("driver", "says"),
    [
        ({"expressions": [{"start_frame": 0, "expression": "angry", "intensity": 1}]},
         "expression must be one of neutral, happy, serious, surprise"),
        ({"expressions": [{"start_frame": 0, "expression": "happy", "intensity": 1.5}]},
         "intensity must be a number between 0 and 1"),
        ({"expressions": [{"start_frame": -1, "expression": "happy", "intensity": 1}]},
         "start_frame must be a non-negative integer"),
        ({"expressions": "happy"}, "expressions must be an array"),
        ({"expressions": [], "transition_frames": "20"},
         "transition_frames must be a non-negative integer"),
    ],
    ids=["unknown-expression", "intensity-over-1", "negative-frame", "not-a-list", "bad-frames"],
)  # fmt: skip
async def test_fake_did_refuses_bad_driver_expressions_as_d_id_does(
    did: FakeDID, http: httpx.AsyncClient, driver: dict[str, Any], says: str
) -> None:
    body = {
        "source_url": "https://example.com/face.jpg",
        "script": {"type": "text", "input": "Hello"},
        "config": {"driver_expressions": driver},
    }
    headers = {"Authorization": f"Basic {did.api_key}"}
    response = await http.post(f"{did.base_url}/talks", json=body, headers=headers)
    assert response.status_code == 400
    error = response.json()
    assert error["kind"] == "BadRequestError" and says in error["description"]
    assert did.talks == {}
