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


class UnconfirmedError(ServiceError):
    """A request the service may have carried out though no answer said so.

    A read timeout, a gateway's 502/504: not sent again where doing it twice costs twice
    (a D-ID talk).
    """


class OutOfCreditsError(ServiceError):
    """D-ID has no credits left (HTTP 402)."""


class TalkFailedError(ServiceError):
    """D-ID failed a talk after accepting it; `kind` is its error kind (FaceError, SourceError…).

    D-ID reports these asynchronously, as the talk's `error` (docs.d-id.com/reference/
    asynchronous-errors), and bills nothing for them.
    """

    def __init__(self, message: str, *, kind: str, detail: str = "") -> None:
        super().__init__(message, detail=detail)
        self.kind = kind
