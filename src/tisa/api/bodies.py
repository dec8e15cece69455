"""Reading a request body with a size cap, for every route that takes one (TAXII, the
exchange's peer and consent routes, the log's witness route): a declared
``Content-Length`` over the cap is refused before anything is read, and a streamed
(chunked) body is refused as soon as it passes the cap, so a client can never make the
node hold more than ``limit`` bytes of its body."""

from __future__ import annotations

from starlette.requests import ClientDisconnect, Request


class BodyTooLarge(Exception):
    """The body is (or declares itself) over the cap; the rest of it is not read."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the body exceeds {limit} bytes")
        self.limit = limit


class BodyUnreadable(Exception):
    """The body cannot be read: a bad ``Content-Length``, or the client went away."""


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, if it is at most ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise BodyUnreadable("Content-Length is not a number") from None
        if size > limit:
            raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    total = 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > limit:
                raise BodyTooLarge(limit)
            chunks.append(chunk)
    except ClientDisconnect:
        raise BodyUnreadable("the client went away mid-body") from None
    return b"".join(chunks)
