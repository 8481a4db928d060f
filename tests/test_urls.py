"""fetchable_url: absolute http(s) URLs in, a ValueError saying why for anything else."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from yarl import URL

from corocrawl._urls import FETCHABLE_SCHEMES, canonical_url, fetchable_url, host_key


@pytest.mark.parametrize(
    ("text", "scheme", "host", "port"),
    [
        ("http://example.com/", "http", "example.com", 80),
        ("https://example.com", "https", "example.com", 443),
        ("http://example.com:8080/path", "http", "example.com", 8080),
        ("https://example.com/search?q=corocrawl&page=2#top", "https", "example.com", 443),
        ("http://example.com/a%20b/%E2%82%AC?x=%2F", "http", "example.com", 80),
        ("http://bücher.example/straße", "http", "xn--bcher-kva.example", 80),
        ("http://[::1]:8080/x", "http", "::1", 8080),
        ("https://[2001:db8::1]/", "https", "2001:db8::1", 443),
        ("http://127.0.0.1:1/", "http", "127.0.0.1", 1),
        ("http://user:secret@example.com/", "http", "example.com", 80),
        ("HTTP://EXAMPLE.com/", "http", "example.com", 80),
    ],
)
def test_fetchable_url_accepts_absolute_http_and_https_urls(
    text: str, scheme: str, host: str, port: int
) -> None:
    url = fetchable_url(text)
    assert isinstance(url, URL)
    assert url.scheme == scheme
    assert url.raw_host == host
    assert url.port == port


def test_fetchable_url_keeps_path_query_and_percent_encoding() -> None:
    url = fetchable_url("https://example.com/a%20b/c?q=1%2B1&x=y")
    assert url.raw_path == "/a%20b/c"
    assert url.query["q"] == "1+1"
    assert url.query["x"] == "y"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("/relative/path", "not an absolute http(s) URL"),
        ("relative/path", "not an absolute http(s) URL"),
        ("example.com/page", "not an absolute http(s) URL"),
        ("//example.com/x", "not an absolute http(s) URL"),
        ("?q=1", "not an absolute http(s) URL"),
        ("http:example.com", "not an absolute http(s) URL"),
        ("ftp://files.example/x", "scheme 'ftp' is not fetched"),
        ("file:///etc/passwd", "scheme 'file' is not fetched"),
        ("mailto:someone@example.com", "scheme 'mailto' is not fetched"),
        ("javascript:alert(1)", "scheme 'javascript' is not fetched"),
        ("data:text/plain,hello", "scheme 'data' is not fetched"),
        ("ws://example.com/socket", "scheme 'ws' is not fetched"),
        ("http:///x", "not an absolute http(s) URL"),
        ("http://", "not an absolute http(s) URL"),
        ("http://:80/", "host is required"),
        ("http://example.com:99999/", "Port out of range"),
        ("http://example.com:port/", "port"),
        ("http://[::1/", "not a valid URL"),
        ("http://exa mple.com/", "white space"),
        ("http://example.com/a b", "white space"),
        ("http://example.com/\t", "white space"),
        ("http://example.com/\n", "white space"),
        (" http://example.com/", "white space"),
        ("", "empty"),
    ],
)
def test_fetchable_url_rejects_with_a_value_error_saying_why(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=re.escape(why)) as caught:
        fetchable_url(text)
    assert type(caught.value) is ValueError  # yarl's own errors are re-raised as ValueError


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("http://Example.COM/", "example.com"),
        ("http://example.com:8080/", "example.com"),
        ("https://EXAMPLE.com:443/a", "example.com"),
        ("http://[::1]:9000/", "::1"),
        ("http://Bücher.example/", "xn--bcher-kva.example"),
    ],
)
def test_host_key_is_the_lower_cased_host_without_the_port(text: str, key: str) -> None:
    assert host_key(fetchable_url(text)) == key


def test_host_key_is_shared_by_urls_of_one_host_on_different_ports_and_schemes() -> None:
    keys = {
        host_key(fetchable_url(text))
        for text in ("http://a.example/", "https://A.example:8443/x", "http://a.EXAMPLE:81/?q")
    }
    assert keys == {"a.example"}


def test_host_key_of_a_relative_url_is_empty() -> None:
    assert host_key(URL("/just/a/path")) == ""


URLISH_TEXT = st.one_of(
    st.text(),
    st.builds(
        str.__add__,
        st.sampled_from(["http://", "https://", "HTTP://", "http://[", "//", "http:", "ftp://"]),
        st.text(),
    ),
)


@given(URLISH_TEXT)
@example("http://[::1")
@example("http://h:65536/")
@example("http://%zz/")
@example("http://xn--/")
@example("https://\udcff/")
@example("http://\u0000/")
@example("http://a\u3000b/")
def test_fetchable_url_returns_an_http_url_with_a_host_or_raises_value_error(text: str) -> None:
    url: URL | None = None
    reason = ""
    try:
        url = fetchable_url(text)
    except ValueError as exc:
        reason = str(exc)
    if url is None:
        assert reason  # every refusal says why
    else:
        assert url.scheme in FETCHABLE_SCHEMES
        assert url.raw_host


@given(
    scheme=st.sampled_from(sorted(FETCHABLE_SCHEMES)),
    host=st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9-]{0,20}){0,3}", fullmatch=True),
    port=st.integers(min_value=1, max_value=65535),
    path=st.lists(st.from_regex(r"[A-Za-z0-9._~-]{1,10}", fullmatch=True), max_size=4),
)
def test_fetchable_url_accepts_generated_http_urls(
    scheme: str, host: str, port: int, path: list[str]
) -> None:
    text = f"{scheme}://{host}:{port}/{'/'.join(path)}"
    url = fetchable_url(text)
    assert url.scheme == scheme
    assert host_key(url) == host
    assert url.port == port


# --- canonical form: the dedupe key of a crawl -------------------------------------------

_hosts = st.sampled_from(
    ["example.com", "EXAMPLE.com", "b\u00fccher.de", "127.0.0.1", "[::1]", "a-b.c.example"]
)
_segments = st.lists(
    st.sampled_from(["a", "B", ".", "..", "%7e", "%2F", "%41", "caf\u00e9", "x y", "~z", ""]),
    max_size=5,
)
_queries = st.lists(
    st.tuples(st.sampled_from(["a", "b", "Z", "%41"]), st.sampled_from(["1", "", "x%20y"])),
    max_size=3,
)


@st.composite
def crawlable_urls(draw: st.DrawFn) -> URL:
    scheme = draw(st.sampled_from(["http", "https", "HTTP"]))
    port = draw(st.sampled_from(["", ":80", ":443", ":8080"]))
    path = "/".join(draw(_segments))
    query = "&".join(f"{k}={v}" for k, v in draw(_queries))
    fragment = draw(st.sampled_from(["", "#top", "#"]))
    text = f"{scheme}://{draw(_hosts)}{port}/{path}" + (f"?{query}" if query else "") + fragment
    return URL(text)


@settings(max_examples=400, deadline=None)
@given(url=crawlable_urls(), sort_query=st.booleans())
def test_canonical_form_is_idempotent(url: URL, sort_query: bool) -> None:
    once = canonical_url(url, sort_query=sort_query)
    assert canonical_url(URL(once), sort_query=sort_query) == once
    assert "#" not in once
    assert URL(once).raw_path.startswith("/")


@settings(max_examples=400, deadline=None)
@given(url=crawlable_urls())
def test_the_fast_path_agrees_with_the_full_build(url: URL) -> None:
    from corocrawl._urls import _built_canonical

    assert canonical_url(url) == _built_canonical(url.with_fragment(None), sort_query=False)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("HTTP://Example.COM:80/a/../b/./c#x", "http://example.com/b/c"),
        ("http://example.com", "http://example.com/"),
        ("https://example.com:443/%7euser", "https://example.com/~user"),
        ("http://b\u00fccher.de/", "http://xn--bcher-kva.de/"),
        ("http://example.com/%2f", "http://example.com/%2F"),
    ],
)
def test_equivalent_urls_share_one_canonical_form(left: str, right: str) -> None:
    assert canonical_url(URL(left)) == canonical_url(URL(right))


def test_different_resources_keep_different_forms() -> None:
    forms = {
        canonical_url(URL(text))
        for text in (
            "http://example.com/a%2Fb",  # an encoded slash is not a path separator
            "http://example.com/a/b",
            "http://example.com/a?x=1&y=2",
            "http://example.com/a?y=2&x=1",  # order kept unless sort_query
            "https://example.com/a/b",
            "http://example.com:8080/a/b",
        )
    }
    assert len(forms) == 6
    assert canonical_url(URL("http://e.com/?b=2&a=1"), sort_query=True) == "http://e.com/?a=1&b=2"
