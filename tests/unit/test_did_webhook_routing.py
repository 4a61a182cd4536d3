"""DIDWebhook without a server: the verdict on each kind of callback, the talk it wakes, the
limits on size and depth, and URLs and tokens that every replica computes alike."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest

from core.avatar.webhook import (
    WEBHOOK_BODY_MAX,
    WEBHOOK_MAX_DEPTH,
    DIDWebhook,
    Verdict,
    Waiter,
    parse_talk,
)

KEY = "dXNlcg:secret"


def talk(nonce: str, status: str = "done", talk_id: str = "tlk_1", **fields: Any) -> bytes:
    return json.dumps({"id": talk_id, "status": status, "user_data": nonce, **fields}).encode()


def test_the_token_is_an_hmac_of_the_nonce_under_a_key_derived_secret() -> None:
    hook = DIDWebhook("https://bot.example/did/", KEY)
    secret = hmac.new(KEY.encode(), b"avatarbot/did-webhook/v1", hashlib.sha256).digest()
    expected = hmac.new(secret, b"n1", hashlib.sha256).hexdigest()
    assert hook.token("n1") == expected
    assert hook.url_for("n1") == f"https://bot.example/did/{expected}"
    assert DIDWebhook("https://other.example/x", KEY).token("n1") == expected  # every replica
    assert DIDWebhook("https://bot.example/did", "other:key").token("n1") != expected
    assert hook.route_path == "/did/{token}"
    assert DIDWebhook("https://bot.example/", KEY).route_path == "/{token}"
    assert not hook.listening


def test_nonces_are_fresh_and_url_safe() -> None:
    hook = DIDWebhook("https://bot.example/did", KEY)
    nonces = {hook.new_nonce() for _ in range(50)}
    assert len(nonces) == 50
    assert all(len(n) == 24 and n.replace("-", "").replace("_", "").isalnum() for n in nonces)


async def test_a_final_callback_wakes_its_talk_with_the_talk_object() -> None:
    hook = DIDWebhook("https://bot.example/did", KEY)
    waiter = hook.expect("tlk_1", "n1")
    body = talk("n1", result_url="https://s3/video.mp4")
    assert hook.receive(hook.token("n1"), body) is Verdict.ACCEPTED
    assert await waiter.next(1.0) == json.loads(body)
    assert await waiter.next(0) is None  # one callback, one wake


@pytest.mark.parametrize("status", ["done", "error", "rejected"])
async def test_each_final_status_is_accepted(status: str) -> None:
    hook = DIDWebhook("https://bot.example/did", KEY)
    waiter = hook.expect("tlk_1", "n1")
    assert hook.receive(hook.token("n1"), talk("n1", status)) is Verdict.ACCEPTED
    talk_object = await waiter.next(1.0)
    assert talk_object is not None and talk_object["status"] == status


@pytest.mark.parametrize("status", ["created", "started", None])
async def test_a_talk_not_finished_yet_is_ignored(status: str | None) -> None:
    hook = DIDWebhook("https://bot.example/did", KEY)
    waiter = hook.expect("tlk_1", "n1")
    body = json.dumps({"id": "tlk_1", "status": status, "user_data": "n1"}).encode()
    assert hook.receive(hook.token("n1"), body) is Verdict.IGNORED
    assert await waiter.next(0) is None


def test_forged_and_foreign_callbacks() -> None:
    hook = DIDWebhook("https://bot.example/did", KEY)
    hook.expect("tlk_1", "n1")
    good = hook.token("n1")
    assert hook.receive(hook.token("n2"), talk("n1")) is Verdict.FORGED  # another talk's token
    assert hook.receive(good[:-1] + "0", talk("n1")) is Verdict.FORGED
    no_nonce = json.dumps({"id": "tlk_1", "status": "done"}).encode()
    assert hook.receive(good, no_nonce) is Verdict.FORGED
    number = json.dumps({"id": "tlk_1", "status": "done", "user_data": 5}).encode()
    assert hook.receive(good, number) is Verdict.FORGED
    # A genuine token of another nonce, aimed at this talk's id: it wakes nothing.
    assert hook.receive(hook.token("n2"), talk("n2")) is Verdict.FORGED
    # Genuine, but for a talk nobody here waits for (another replica's, or finished).
    assert hook.receive(hook.token("n3"), talk("n3", talk_id="tlk_9")) is Verdict.IGNORED
    unknown_id = json.dumps({"id": 7, "status": "done", "user_data": "n1"}).encode()
    assert hook.receive(good, unknown_id) is Verdict.IGNORED
    listed_id = json.dumps({"id": ["tlk_1"], "status": "done", "user_data": "n1"}).encode()
    assert hook.receive(good, listed_id) is Verdict.IGNORED  # not a talk id: no lookup


async def test_a_talk_whose_nonce_is_not_known_yet_takes_its_callback_then_checks_it() -> None:
    hook = DIDWebhook("https://bot.example/did", KEY)
    waiter = hook.expect("tlk_1", None)
    assert hook.receive(hook.token("n1"), talk("n1")) is Verdict.ACCEPTED
    assert (await waiter.next(1.0) or {})["user_data"] == "n1"
    waiter.nonce = "n2"  # the talk turned out to be another nonce's
    assert hook.receive(hook.token("n1"), talk("n1")) is Verdict.FORGED
    assert hook.receive(hook.token("n2"), talk("n2")) is Verdict.ACCEPTED
    assert (await waiter.next(1.0) or {})["user_data"] == "n2"


async def test_a_callback_that_came_before_its_nonce_was_known_is_dropped_if_foreign() -> None:
    waiter = Waiter(None)
    waiter.talk = {"id": "tlk_1", "status": "done", "user_data": "n1"}
    waiter.arrived.set()
    waiter.nonce = "n2"
    assert await waiter.next(1.0) is None
    assert not waiter.arrived.is_set()
    assert await Waiter("n1").next(-5) is None  # a past deadline waits no more


async def test_a_forgotten_talk_ignores_its_callbacks() -> None:
    hook = DIDWebhook("https://bot.example/did", KEY)
    first = hook.expect("tlk_1", "n1")
    second = hook.expect("tlk_1", "n1")  # the same talk waited for again
    hook.forget("tlk_1", first)  # a stale waiter does not remove the current one
    assert hook.receive(hook.token("n1"), talk("n1")) is Verdict.ACCEPTED
    assert await second.next(1.0) is not None
    hook.forget("tlk_1", second)
    assert hook.receive(hook.token("n1"), talk("n1")) is Verdict.IGNORED


def nested(depth: int) -> Any:
    """Containers `depth` deep, lists and objects taking turns (each counts one level)."""
    value: Any = {"leaf": 1}
    for level in range(depth - 1):
        value = {"level": value} if level % 2 else [value]
    return value


def depth_of(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    return 0


@pytest.mark.parametrize("depth", [WEBHOOK_MAX_DEPTH - 1, WEBHOOK_MAX_DEPTH])
def test_a_talk_object_as_deep_as_allowed_is_read(depth: int) -> None:
    value = {"id": "tlk_1", "deep": nested(depth - 1)}
    assert depth_of(value) == depth
    assert parse_talk(json.dumps(value).encode()) == value


@pytest.mark.parametrize("depth", [WEBHOOK_MAX_DEPTH + 1, WEBHOOK_MAX_DEPTH + 5, 100_000])
def test_a_deeper_one_is_malformed(depth: int) -> None:
    body = (
        json.dumps({"id": "tlk_1", "deep": nested(depth - 1)}).encode()
        if depth < 1000
        else b'{"a":' + b"[" * depth + b"]" * depth + b"}"
    )
    assert parse_talk(body) is None
    hook = DIDWebhook("https://bot.example/did", KEY)
    assert hook.receive("x", body) is Verdict.MALFORMED


def test_a_body_up_to_the_size_limit_is_read_and_one_byte_more_is_not() -> None:
    head = b'{"id": "tlk_1", "pad": "'
    fits = head + b"x" * (WEBHOOK_BODY_MAX - len(head) - 2) + b'"}'
    assert len(fits) == WEBHOOK_BODY_MAX
    assert parse_talk(fits) is not None
    over = head + b"x" * (WEBHOOK_BODY_MAX - len(head) - 1) + b'"}'
    assert parse_talk(over) is None


@pytest.mark.parametrize("body", [b"", b"not json", b"\xff\xfe", b"[]", b'"x"', b"null", b"3"])
def test_anything_but_a_json_object_is_malformed(body: bytes) -> None:
    assert parse_talk(body) is None
