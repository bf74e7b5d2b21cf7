"""EarlyRecognition: a decode started during the trailing silence is used only for exactly the
answer it decoded."""

from __future__ import annotations

import asyncio

from ivr.session.early import EarlyRecognition


def test_early_decode_is_used_only_for_the_same_answer() -> None:
    async def scenario() -> None:
        decoded: list[bytes] = []
        gate = asyncio.Event()

        async def decode(audio: bytes) -> str:
            decoded.append(audio)
            await gate.wait()
            return audio.decode()

        early: EarlyRecognition[str] = EarlyRecognition()
        question, other_question, engine = object(), object(), object()
        assert early.offer(question, engine, b"yes", decode)
        await asyncio.sleep(0)
        # while it runs, a later pause does not start a second decode
        assert not early.offer(question, engine, b"yes please", decode)
        gate.set()
        task = early.take(question, engine, b"yes")
        assert task is not None and await task == "yes"
        assert early.take(question, engine, b"yes") is None  # handed over once
        # the caller spoke again: the answer's audio differs, the early result is not used
        assert early.offer(question, engine, b"no", decode)
        await asyncio.sleep(0)
        assert early.take(question, engine, b"no thank you") is None
        # a different question (or recognizer) never gets another's result
        assert early.offer(question, engine, b"two", decode)
        await asyncio.sleep(0)
        assert early.take(other_question, engine, b"two") is None
        assert early.offer(question, engine, b"two", decode)
        await asyncio.sleep(0)
        assert early.take(question, object(), b"two") is None
        assert decoded == [b"yes", b"no", b"two", b"two"]
        assert (early.started, early.used) == (4, 1)

    asyncio.run(scenario())


def test_a_failed_early_decode_raises_where_it_is_awaited() -> None:
    async def scenario() -> None:
        async def broken(audio: bytes) -> str:
            raise RuntimeError("decoder fell over")

        early: EarlyRecognition[str] = EarlyRecognition()
        q, e = object(), object()
        assert early.offer(q, e, b"x", broken)
        await asyncio.sleep(0.01)
        task = early.take(q, e, b"x")
        assert task is not None
        try:
            await task
        except RuntimeError as exc:
            assert "fell over" in str(exc)
        else:
            raise AssertionError("the failure must reach whoever uses the result")
        # an untaken failed decode is dropped quietly
        assert early.offer(q, e, b"y", broken)
        await asyncio.sleep(0.01)
        early.drop()

    asyncio.run(scenario())
