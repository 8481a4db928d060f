"""Content-Encoding decoding: whole bodies, or an error; never half-decoded."""

from __future__ import annotations

import gzip
import zlib

import pytest

from corocrawl._engine.decoding import BodyDecoder
from corocrawl._exceptions import ProtocolError, ReadError

TEXT = b"<p>corocrawl</p>\n" * 5000


def decoded(header: str, body: bytes, *, chunk: int = 1 << 20) -> bytes:
    decoder = BodyDecoder(header, url="http://example.com/")
    out = b"".join(
        piece
        for start in range(0, len(body), chunk)
        for piece in decoder.feed(body[start : start + chunk])
    )
    decoder.finish()
    return out


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize("chunk", [1, 7, 4096, 1 << 20])
@pytest.mark.parametrize(
    ("header", "body"),
    [
        ("gzip", gzip.compress(TEXT)),
        ("x-gzip", gzip.compress(TEXT)),
        ("deflate", zlib.compress(TEXT)),
        ("deflate", raw_deflate(TEXT)),  # what many servers send as "deflate"
        ("gzip, gzip", gzip.compress(gzip.compress(TEXT))),
        ("deflate, GZIP", gzip.compress(zlib.compress(TEXT))),
        ("identity, gzip", gzip.compress(TEXT)),
        ("gzip", gzip.compress(TEXT[:1000]) + gzip.compress(TEXT[1000:])),  # two members
        ("gzip", gzip.compress(TEXT) + b"\0\0 trailing junk"),  # ignored, as browsers do
        ("none", TEXT),  # no compression's name: ignored, as browsers do
        ("utf-8, gzip", gzip.compress(TEXT)),
    ],
)
def test_every_coding_and_stack_decodes_whole_in_any_chunking(
    header: str, body: bytes, chunk: int
) -> None:
    assert decoded(header, body, chunk=chunk) == TEXT


@pytest.mark.parametrize(
    ("header", "body"),
    [
        ("gzip", gzip.compress(TEXT)[:-20]),
        ("gzip", gzip.compress(TEXT)[:40]),
        ("deflate", zlib.compress(TEXT)[:100]),
        ("gzip, gzip", gzip.compress(gzip.compress(TEXT)[:-10])),  # the inner one is cut
    ],
)
def test_a_stream_that_ends_early_is_a_read_error(header: str, body: bytes) -> None:
    with pytest.raises(ReadError, match="stream ends early"):
        decoded(header, body)


@pytest.mark.parametrize(
    ("header", "body", "message"),
    [
        ("gzip", TEXT, "not decodable as gzip"),
        ("deflate", b"\xff" * 100, "not decodable as deflate"),
        ("gzip, gzip", gzip.compress(TEXT), "not decodable as gzip"),  # only one layer applied
        ("br", TEXT, "cannot decode Content-Encoding br"),
        ("gzip, zstd", TEXT, "cannot decode Content-Encoding zstd"),
        ("gzip, gzip, gzip, gzip, gzip", TEXT, "5 layers"),
    ],
)
def test_a_body_that_is_not_what_its_header_says_is_a_protocol_error(
    header: str, body: bytes, message: str
) -> None:
    with pytest.raises(ProtocolError, match=message):
        decoded(header, body)


def test_a_body_nobody_reads_is_passed_on_under_a_coding_not_asked_for() -> None:
    """A 404 or a redirect that says `br` (strict off): its body is kept as it came."""
    decoder = BodyDecoder("br", url="http://example.com/", strict=False)
    assert b"".join(decoder.feed(TEXT)) == TEXT


def test_nothing_sent_under_a_coding_is_an_empty_body() -> None:
    assert decoded("gzip", b"") == b""  # a 304 or a HEAD carries the header and no body


def test_a_bomb_inflates_in_bounded_steps() -> None:
    bomb = gzip.compress(gzip.compress(bytes(200 << 20)))  # 200 MiB of zeros, twice packed
    assert len(bomb) < 64 * 1024
    decoder = BodyDecoder("gzip, gzip", url="http://example.com/")
    pieces = decoder.feed(bomb)
    first = [next(pieces) for _ in range(50)]
    assert max(len(piece) for piece in first) <= 64 * 1024
