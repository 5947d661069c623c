"""API errors of the fault proxy, with the real Toxiproxy server's messages and status codes.

Every error the HTTP API answers is an :class:`ApiError`; its body is ``{"error": ..., "status": N}``
exactly as Toxiproxy's ``apiError`` writes it. Errors that the real server does not type (a listen
failure, for instance) answer 500 with the underlying message, as the real server does.
"""
from __future__ import annotations



class ApiError(Exception):
    """An error answered by the API as ``{"error": message, "status": status}``."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def body(self) -> dict[str, object]:
        return {"error": self.message, "status": self.status}

    def joined(self, detail: str) -> ApiError:
        """``joinError``: the same status, with ``"<message>: <detail>"``."""
        return ApiError(f"{self.message}: {detail}", self.status)


BAD_REQUEST_BODY = ApiError("bad request body", 400)
MISSING_FIELD = ApiError("missing required field", 400)
PROXY_NOT_FOUND = ApiError("proxy not found", 404)
PROXY_ALREADY_EXISTS = ApiError("proxy already exists", 409)
INVALID_STREAM = ApiError("stream was invalid, can be either upstream or downstream", 400)
INVALID_TOXIC_TYPE = ApiError("invalid toxic type", 400)
TOXIC_ALREADY_EXISTS = ApiError("toxic already exists", 409)
TOXIC_NOT_FOUND = ApiError("toxic not found", 404)


class ListenError(OSError):
    """A proxy (or the API) could not listen; the message is Go's ``listen tcp <addr>: ...``."""


def internal(message: str) -> ApiError:
    """An untyped error: the real server answers these with status 500."""
    return ApiError(message, 500)
