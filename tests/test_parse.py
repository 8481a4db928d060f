"""Link extraction: what a crawl takes from a page, however broken the page."""

from __future__ import annotations

from yarl import URL

from corocrawl._crawl.parse import parse_html

PAGE = URL("http://example.com/dir/page.html")


def links(html: str, *, url: URL = PAGE, max_links: int = 100) -> list[str]:
    return [str(link) for link in parse_html(html.encode(), url, charset="utf-8",
                                               max_links=max_links).links]  # fmt: skip


def test_relative_links_resolve_against_the_page() -> None:
    html = '<a href="other.html">x</a><a href="/root">y</a><a href="../up#frag">z</a>'
    assert links(html) == [
        "http://example.com/dir/other.html",
        "http://example.com/root",
        "http://example.com/up",
    ]


def test_base_href_changes_what_relative_links_resolve_against() -> None:
    html = '<head><base href="http://cdn.example.org/assets/"></head><a href="x.html">x</a>'
    assert links(html) == ["http://cdn.example.org/assets/x.html"]


def test_only_http_links_are_taken_each_once() -> None:
    html = (
        '<a href="mailto:a@b.c">m</a><a href="javascript:void(0)">j</a><a href="#top">t</a>'
        '<a href="ftp://f.example/x">f</a><a href="tel:123">p</a><a href="https://s.example/">s</a>'
        '<a href="https://s.example/#again">s</a><a>no href</a><a href="">empty</a>'
    )
    assert links(html) == ["https://s.example/"]


def test_link_rel_next_and_canonical_are_links_too() -> None:
    html = '<link rel="next" href="/p2"><link rel="canonical" href="/c"><link rel="icon" href="/i">'
    assert links(html) == ["http://example.com/p2", "http://example.com/c"]


def test_links_are_capped_but_counted() -> None:
    html = "".join(f'<a href="/p{i}">{i}</a>' for i in range(5000))
    page = parse_html(html.encode(), PAGE, charset="utf-8", max_links=100)
    assert len(page.links) == 100
    assert page.links_found == 5000


def test_malformed_html_and_bad_bytes_never_raise() -> None:
    body = b"<html><title>T\xff\xfe</title><a href='/ok'>x<a href=\"/also\"><div></span>\x00</a"
    page = parse_html(body, PAGE, charset="utf-8", max_links=10)
    assert page.title is not None
    assert page.title.startswith("T")
    assert [str(link) for link in page.links] == [
        "http://example.com/ok",
        "http://example.com/also",
    ]
    assert parse_html(b"", PAGE, charset=None, max_links=10).links == []


def test_an_unknown_charset_falls_back_instead_of_failing() -> None:
    page = parse_html(b"<title>caf\xc3\xa9</title>", PAGE, charset="no-such-charset",
                      max_links=10)  # fmt: skip
    assert page.title == "café"
