"""The avatar's expression reaches the talk: the body, the setting and fake D-ID's checks.

The tone classifier itself is tested in tests/unit/test_expressions.py.
"""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.avatar.did import DIDClient
from core.avatar.did_polling import PollSchedule
from tests.fakes.did import FakeDID
from tests.fakes.groq import FakeGroq
from tests.harness import settings_for, terminal


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
