"""What every fake server shares: `async with Fake() as fake:` starts it and closes it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self


class LocalServer(ABC):
    """A server on 127.0.0.1 used as an async context manager."""

    @abstractmethod
    async def start(self) -> None:
        """Bind a free port and start serving."""

    @abstractmethod
    async def close(self) -> None:
        """Stop serving and release everything the server holds."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
