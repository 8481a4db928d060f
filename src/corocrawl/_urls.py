"""Pure URL work: what corocrawl will fetch, a URL's canonical form, and its host."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from yarl import URL

from ._exceptions import ConfigError

__all__ = [
    "FETCHABLE_SCHEMES",
    "canonical_url",
    "checked_seeds",
    "fetchable_url",
    "fingerprint",
    "host_key",
    "host_partition",
    "partition",
]

FETCHABLE_SCHEMES = frozenset({"http", "https"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
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


def canonical_url(url: URL, *, sort_query: bool = False) -> str:
    """The form two URLs share when they name the same resource: the key for dedupe.

    yarl has already lower-cased the scheme and host, IDNA-encoded the host, resolved dot
    segments and normalised percent-encoding (unreserved characters decoded, hex upper-cased,
    reserved ones such as %2F kept). Here the fragment and a default port are dropped, an empty
    path becomes '/', and with `sort_query` the query's parameters are sorted (their order is
    kept otherwise: it can matter to the server). Applying it twice changes nothing.
    """
    if url.raw_fragment:
        url = url.with_fragment(None)
    text = str(url)
    # yarl's own text is already canonical (it drops default ports too), except for a bare
    # "http://host", which lacks its "/": the common case costs one str() instead of a build.
    if not sort_query and (text.endswith("/") or url.raw_path != "/" or url.raw_query_string):
        return text
    return _built_canonical(url, sort_query=sort_query)


def _built_canonical(url: URL, *, sort_query: bool) -> str:
    port = url.explicit_port
    if port == _DEFAULT_PORTS.get(url.scheme):
        port = None
    query = url.raw_query_string
    if sort_query and query:
        query = "&".join(sorted(query.split("&")))
    canonical = URL.build(
        scheme=url.scheme,
        user=url.raw_user,
        password=url.raw_password,
        host=url.host_subcomponent or "",
        port=port,
        path=url.raw_path or "/",
        query_string=query,
        encoded=True,
    )
    return str(canonical)


def fingerprint(canonical: str) -> bytes:
    """16 bytes that stand for a canonical URL in the seen-set, whatever its length."""
    return hashlib.blake2b(canonical.encode(), digest_size=16).digest()


def partition(url_text: str, parts: int) -> int:
    """Which of `parts` workers owns the URL's host: stable across processes and runs (unlike
    hash()), so one host's requests, delays and connections all live in one worker."""
    try:
        host = host_key(fetchable_url(url_text))
    except ValueError:
        host = url_text  # unfetchable: any worker records its error; keep it deterministic
    return host_partition(host, parts)


def host_partition(host: str, parts: int) -> int:
    """`partition()` for a host name already extracted."""
    digest = hashlib.blake2b(host.encode(errors="surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % parts


def checked_seeds(seeds: Iterable[str]) -> list[str]:
    """The seeds, each an absolute http(s) URL; ConfigError names the first that is not."""
    checked = list(seeds)
    for seed in checked:
        try:
            fetchable_url(seed)
        except ValueError as exc:
            raise ConfigError(f"seed {seed!r}: {exc}") from None
    return checked
