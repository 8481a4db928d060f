"""Pure URL checks: what corocrawl will fetch, and which host a URL belongs to."""

from __future__ import annotations

import re

from yarl import URL

__all__ = ["FETCHABLE_SCHEMES", "fetchable_url", "host_key"]

FETCHABLE_SCHEMES = frozenset({"http", "https"})
_WHITE_SPACE = re.compile(r"\s")
# What yarl leaves in a host: names (IDNA already encoded), IPv4, and IPv6 without brackets.
_HOST = re.compile(r"[A-Za-z0-9._\-]+|[0-9A-Fa-f:.]+")


def fetchable_url(text: str) -> URL:
    """Parse `text` as an absolute http(s) URL, or raise ValueError saying what is wrong."""
    if not text or _WHITE_SPACE.search(text):
        raise ValueError("not an absolute http(s) URL (empty or contains white space)")
    try:
        url = URL(text)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a valid URL ({exc})") from None
    if url.scheme and url.scheme not in FETCHABLE_SCHEMES:
        raise ValueError(f"scheme {url.scheme!r} is not fetched (only http and https)")
    if not url.is_absolute() or not url.scheme:
        raise ValueError("not an absolute http(s) URL")
    if not url.raw_host or not _HOST.fullmatch(url.raw_host):
        raise ValueError(f"URL has no valid host ({url.raw_host!r})")
    return url


def host_key(url: URL) -> str:
    """The key that per-host limits and politeness are kept under: the lower-cased host name."""
    return (url.raw_host or "").lower()
