"""Content-Encoding decoded here, layer by layer, in bounded steps: whole, or an error.

aiohttp's own decoding passes a gzip stream that ends early as a whole body, and leaves a body
sent as "gzip, gzip" half-decoded. Decoding it ourselves from the raw bytes makes every body
either complete or a FetchError, and keeps the raw bytes at hand (for archives).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence

from .._exceptions import ProtocolError, ReadError

__all__ = ["ACCEPT_ENCODING", "BodyDecoder"]

ACCEPT_ENCODING = "gzip, deflate"
_DECODABLE = frozenset({"gzip", "x-gzip", "deflate"})
_NOT_ASKED_FOR = frozenset({"br", "zstd", "compress", "x-compress"})
_MAX_LAYERS = 4
# Output of one decompression step: a compression bomb inflates in steps this size, so the
# caller's size cap stops it after a step, not after inflating the whole bomb.
_STEP = 64 * 1024
_GZIP_MAGIC = b"\x1f\x8b"


class BodyDecoder:
    """Decodes a body sent with `Content-Encoding: <codings>`; feed it the raw bytes in order,
    then call `finish()`, which raises when a stream ended before its end.

    Each fed chunk yields decoded pieces of at most 64 KiB, which the caller may stop taking
    (its size cap): memory stays bounded however far the body would inflate."""

    def __init__(self, content_encoding: str | None, *, url: str, strict: bool = True) -> None:
        codings = [coding.strip().lower() for coding in (content_encoding or "").split(",")]
        # A name that is no compression ("none", "utf-8", "binary": servers say such things)
        # is ignored, as browsers do. A compression not asked for cannot be undone: the body
        # is refused, unless `strict` is off (a body nobody reads: a 404, a redirect).
        undecodable = sorted({coding for coding in codings if coding in _NOT_ASKED_FOR})
        if undecodable and strict:
            raise ProtocolError(
                f"cannot decode Content-Encoding {', '.join(undecodable)} (corocrawl asks for "
                f"{ACCEPT_ENCODING} only)",
                url=url,
            )
        codings = [coding for coding in codings if coding in _DECODABLE] if not undecodable else []
        if len(codings) > _MAX_LAYERS:
            raise ProtocolError(
                f"Content-Encoding has {len(codings)} layers, more than {_MAX_LAYERS}", url=url
            )
        self._url = url
        # The last coding listed was applied last, so it is undone first.
        self._layers: Sequence[_Inflate] = [_Inflate(coding) for coding in reversed(codings)]

    def feed(self, data: bytes) -> Iterator[bytes]:
        try:
            yield from _through(self._layers, data)
        except zlib.error as exc:
            raise ProtocolError(self._undecodable(exc), url=self._url) from None

    def finish(self) -> None:
        for layer in self._layers:
            if layer.started and not layer.ended:
                raise ReadError(
                    f"body broken off: the {layer.coding} stream ends early", url=self._url
                )

    def _undecodable(self, exc: zlib.error) -> str:
        broken = next((layer for layer in self._layers if layer.failed), self._layers[0])
        return f"body not decodable as {broken.coding}: {exc}"


def _through(layers: Sequence[_Inflate], data: bytes) -> Iterator[bytes]:
    if not layers:
        yield data
        return
    for piece in layers[0].feed(data):
        yield from _through(layers[1:], piece)


class _Inflate:
    """One gzip or deflate layer. A gzip body may hold several members, one after another;
    bytes after the last stream ends are ignored, as browsers and curl do."""

    def __init__(self, coding: str) -> None:
        self.coding = "gzip" if coding == "x-gzip" else coding
        self.started = False
        self.failed = False
        self._inflater: zlib._Decompress | None = None
        self._held = b""  # a byte alone before a stream: what it starts is known from two
        self._trailing = False

    @property
    def ended(self) -> bool:
        return self._inflater is not None and self._inflater.eof

    def feed(self, data: bytes) -> Iterator[bytes]:
        data, self._held = self._held + data, b""
        self.started = self.started or bool(data)
        while data and not self._trailing:
            inflater = self._inflater
            if inflater is None or inflater.eof:
                if len(data) < 2:  # what follows is known from two bytes
                    self._held = data
                    return
                if inflater is not None and not (
                    self.coding == "gzip" and data.startswith(_GZIP_MAGIC)
                ):
                    self._trailing = True
                    return
                inflater = self._inflater = zlib.decompressobj(self._window_bits(data))
            while True:
                try:
                    out = inflater.decompress(data, _STEP)
                except zlib.error:
                    self.failed = True
                    raise
                data = inflater.unused_data if inflater.eof else inflater.unconsumed_tail
                if out:
                    yield out
                # A full step may leave output inside zlib even when all input is taken.
                if inflater.eof or (not inflater.unconsumed_tail and len(out) < _STEP):
                    break

    def _window_bits(self, first: bytes) -> int:
        if self.coding == "gzip":
            return 16 + zlib.MAX_WBITS
        # "deflate" is meant to be zlib-wrapped (RFC 9110), but many servers send raw deflate.
        if first[0] & 0x0F == 8 and int.from_bytes(first[:2]) % 31 == 0:
            return zlib.MAX_WBITS
        return -zlib.MAX_WBITS
