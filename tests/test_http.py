"""The aiohttp-backed httpx clients, through the real groq SDK against the fake Groq."""

import asyncio

import groq
import httpx

from core.groq.chat import GroqChatModel
from core.http import pooled_client
from core.types import ChatMessage
from tests.fakes.groq import FakeGroq

ONE_CONNECTION = httpx.Limits(max_connections=1)
QUESTION = [ChatMessage("user", "hello")]
MODEL = "openai/gpt-oss-20b"


def sdk_client(fake: FakeGroq, http: httpx.AsyncClient) -> groq.AsyncGroq:
    return groq.AsyncGroq(
        api_key=fake.api_key, base_url=fake.base_url, max_retries=0, http_client=http
    )


def model(fake: FakeGroq, http: httpx.AsyncClient) -> GroqChatModel:
    return GroqChatModel.create(sdk_client(fake, http), MODEL)


async def answer(chat: GroqChatModel) -> str:
    return "".join([piece async for piece in chat.stream(QUESTION)])


async def test_answers_stream_through_the_pooled_client(groq: FakeGroq) -> None:
    groq.reply = "Hello from the pool."
    async with pooled_client(ONE_CONNECTION) as http:
        chat = model(groq, http)
        assert [await answer(chat) for _ in range(3)] == ["Hello from the pool."] * 3
    assert len(groq.chat_bodies) == 3


async def test_an_answer_cut_mid_stream_gives_its_connection_back(groq: FakeGroq) -> None:
    # The groq SDK leaves a stream's response open when its reader is cancelled, and whoever
    # still holds the stream keeps it from garbage collection. With one connection in the pool
    # the next request can only be sent once the cut stream's connection is given back.
    gate = groq.hold()  # after the role chunk, so that the next read waits on the socket
    async with pooled_client(ONE_CONNECTION, timeout=httpx.Timeout(5.0, pool=2.0)) as http:
        client = sdk_client(groq, http)
        stream = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hello"}], stream=True
        )
        assert await stream.__anext__()  # the role chunk; the fake holds the rest

        async def next_chunk() -> object:
            return await stream.__anext__()

        cut = asyncio.create_task(next_chunk())
        await asyncio.sleep(0)  # the read is waiting on the socket
        cut.cancel()
        (outcome,) = await asyncio.gather(cut, return_exceptions=True)
        assert isinstance(outcome, asyncio.CancelledError)  # the read was cut, not finished
        groq.stop_holding()  # the cut answer stays unfinished: its body never completes
        assert await answer(model(groq, http)) == "You said: hello"
        assert stream.response is not None  # still referenced while the next answer ran
        gate.set()


async def test_requests_go_out_on_the_session_the_client_was_given(groq: FakeGroq) -> None:
    import aiohttp

    sessions: list[aiohttp.ClientSession] = []

    def session() -> aiohttp.ClientSession:
        # bot/proxies.py hands over a session that sends through the proxy; this one marks
        # its requests instead.
        sessions.append(aiohttp.ClientSession(headers={"X-Session": "ours"}))
        return sessions[-1]

    groq.reply = "Hello."
    async with pooled_client(ONE_CONNECTION, session) as http:
        assert await answer(model(groq, http)) == "Hello."
    assert len(sessions) == 1 and sessions[0].closed
    assert groq.calls("/chat/completions")[-1].headers["x-session"] == "ours"
