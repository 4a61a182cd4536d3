"""Errors that carry one short line for the user; logs keep the detail."""

from __future__ import annotations


class UserFacingError(Exception):
    """A failure the user should hear about in one short, friendly line."""

    def __init__(self, message: str, *, detail: str = "") -> None:
        super().__init__(detail or message)
        self.message = message
        self.detail = detail or message


class BadInputError(UserFacingError):
    """The user's input cannot be used (empty, corrupt, too large)."""


class ServiceError(UserFacingError):
    """An external service failed after retries, or refused our credentials."""


class ConfigurationError(ServiceError):
    """A setting is wrong (bad key, retired model); the detail names the variable."""


class UnavailableError(ServiceError):
    """A service kept failing (429, 5xx, timeouts) through every retry."""


class OutOfCreditsError(ServiceError):
    """D-ID has no credits left (HTTP 402)."""
