"""A bad setting as the one line `avatarbot` prints: pydantic's first error, in our words."""

from __future__ import annotations

from pydantic import ValidationError


def describe(error: ValidationError) -> str:
    """One line naming the first bad variable, what is wrong with it and where to set it."""
    first = error.errors()[0]
    names = [str(part) for part in first["loc"] if not isinstance(part, int)]
    name = names[0] if names else "settings"
    if first["type"] == "missing":
        return f"{name} is not set: add it to the environment or to .env (see .env.example)"
    message = first["msg"].removeprefix("Value error, ")
    if not first["loc"]:
        return f"bad settings: {message}"
    if message == "is empty":
        return f"{name} is empty: set it in the environment or in .env (see .env.example)"
    entries = [part for part in first["loc"] if isinstance(part, int)]
    if entries:
        # A list setting: name the entry the way it was written, not pydantic's index path.
        return f"{name} is invalid: entry {entries[0] + 1} ({first['input']!r}): {message}"
    return f"{name} is invalid: {message}"
