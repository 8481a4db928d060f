"""Config objects reject bad values with a ConfigError naming the option; CLI size and header."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pytest

from corocrawl import ConfigError, CorocrawlError, FetchConfig, Limits, RetryPolicy, Timeouts
from corocrawl._cli.main import build_parser
from corocrawl._cli.options import _byte_size, _header, fetch_config_from_args
from corocrawl._config import DEFAULT_RECORD_HEADERS

BAD_NUMBERS = [0, 0.0, -1, -0.5, math.nan, math.inf, -math.inf]


def test_config_error_is_a_value_error_and_a_corocrawl_error() -> None:
    with pytest.raises(ValueError, match="total timeout") as caught:
        Timeouts(total=0)
    assert isinstance(caught.value, ConfigError)
    assert isinstance(caught.value, CorocrawlError)


# -- Timeouts -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", BAD_NUMBERS)
def test_timeouts_reject_a_total_that_is_not_positive_and_finite(value: float) -> None:
    with pytest.raises(ConfigError, match="total timeout must be a positive number"):
        Timeouts(total=value)


@pytest.mark.parametrize("value", BAD_NUMBERS)
def test_timeouts_reject_a_connect_that_is_not_positive_and_finite(value: float) -> None:
    with pytest.raises(ConfigError, match="connect timeout must be a positive number"):
        Timeouts(connect=value)


@pytest.mark.parametrize("value", BAD_NUMBERS)
def test_timeouts_reject_a_read_that_is_not_positive_and_finite(value: float) -> None:
    with pytest.raises(ConfigError, match="read timeout must be a positive number"):
        Timeouts(read=value)


def test_timeouts_allow_no_read_timeout_and_keep_values() -> None:
    timeouts = Timeouts(total=12.5, connect=0.25, read=None)
    assert (timeouts.total, timeouts.connect, timeouts.read) == (12.5, 0.25, None)
    assert Timeouts(read=3.0).read == 3.0


def test_timeouts_message_shows_the_bad_value() -> None:
    with pytest.raises(ConfigError, match=r"got -2\.5"):
        Timeouts(connect=-2.5)


# -- Limits ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, -1])
def test_limits_reject_concurrency_below_one(value: int) -> None:
    with pytest.raises(ConfigError, match="concurrency must be at least 1"):
        Limits(concurrency=value)


@pytest.mark.parametrize("value", [0, -3])
def test_limits_reject_per_host_below_one(value: int) -> None:
    with pytest.raises(ConfigError, match="per-host limit must be at least 1"):
        Limits(per_host=value)


@pytest.mark.parametrize("value", [0, -3])
def test_limits_reject_per_ip_below_one(value: int) -> None:
    with pytest.raises(ConfigError, match="per-IP limit must be at least 1"):
        Limits(per_ip=value)


@pytest.mark.parametrize(
    ("per_ip", "workers", "share"), [(8, 4, 2), (10, 4, 3), (2, 4, 1), (None, 4, None), (8, 1, 8)]
)
def test_each_worker_takes_its_share_of_the_per_ip_limit(
    per_ip: int | None, workers: int, share: int | None
) -> None:
    """An address's hosts are spread over the workers: each keeps its share, rounded up (at
    least 1), so together they keep to the limit rounded up to a multiple of their number."""
    config = FetchConfig(limits=Limits(concurrency=100, per_host=4, per_ip=per_ip))
    mine = config.with_concurrency(100 // workers)
    assert (mine.limits.per_ip, mine.limits.per_host) == (share, 4)


def test_limits_reject_negative_max_body_bytes() -> None:
    with pytest.raises(ConfigError, match="max body bytes"):
        Limits(max_body_bytes=-1)


def test_limits_reject_negative_max_redirects() -> None:
    with pytest.raises(ConfigError, match="max redirects"):
        Limits(max_redirects=-1)


def test_limits_allow_zero_body_bytes_and_zero_redirects() -> None:
    limits = Limits(max_body_bytes=0, max_redirects=0)
    assert (limits.max_body_bytes, limits.max_redirects) == (0, 0)


@pytest.mark.parametrize(
    ("concurrency", "per_host", "slots"),
    [(100, None, 100), (100, 8, 8), (4, 16, 4), (1, 1, 1), (7, 7, 7)],
)
def test_limits_host_slots_is_per_host_capped_by_concurrency(
    concurrency: int, per_host: int | None, slots: int
) -> None:
    assert Limits(concurrency=concurrency, per_host=per_host).host_slots == slots


def test_per_ip_is_refused_with_a_proxy_that_resolves_the_names_itself() -> None:
    with pytest.raises(ConfigError, match="--per-ip cannot be kept through a proxy"):
        FetchConfig(limits=Limits(per_ip=4), proxies=("http://127.0.0.1:3128",))


# -- RetryPolicy ----------------------------------------------------------------------------


def test_retry_policy_rejects_negative_retries() -> None:
    with pytest.raises(ConfigError, match="retries must be >= 0"):
        RetryPolicy(retries=-1)


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("backoff_base", "backoff base"),
        ("backoff_max", "backoff max"),
        ("retry_after_max", "retry-after max"),
    ],
)
@pytest.mark.parametrize("value", [-1.0, math.nan])
def test_retry_policy_rejects_negative_or_nan_durations(
    field: str, message: str, value: float
) -> None:
    with pytest.raises(ConfigError, match=message):
        RetryPolicy(**{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("statuses", [{99}, {600}, {0}, {500, 1000}, {-503}])
def test_retry_policy_rejects_statuses_that_are_not_http_statuses(statuses: set[int]) -> None:
    with pytest.raises(ConfigError, match=r"retry statuses must be HTTP statuses \(100-599\)"):
        RetryPolicy(retry_statuses=frozenset(statuses))


def test_retry_policy_accepts_zero_retries_and_custom_statuses() -> None:
    policy = RetryPolicy(retries=0, retry_statuses=frozenset({100, 599, 408}))
    assert policy.retries == 0
    assert policy.retry_statuses == {100, 408, 599}


# -- FetchConfig ----------------------------------------------------------------------------


@pytest.mark.parametrize("agent", ["", "   ", "\t"])
def test_fetch_config_rejects_an_empty_user_agent(agent: str) -> None:
    with pytest.raises(ConfigError, match="user agent must not be empty"):
        FetchConfig(user_agent=agent)


@pytest.mark.parametrize(
    "name",
    ["X Custom", "X-Custom:", "Host:evil", "", "Ünïcode", "X-Caf\u00e9", "X\tTab", "(paren)"],
)
def test_fetch_config_rejects_header_names_that_are_not_tokens(name: str) -> None:
    with pytest.raises(ConfigError, match="bad header name"):
        FetchConfig(headers=((name, "value"),))


@pytest.mark.parametrize("value", ["a\r\nX-Injected: 1", "a\nb", "a\rb", "\n"])
def test_fetch_config_rejects_header_values_with_line_breaks(value: str) -> None:
    with pytest.raises(ConfigError, match="'X-Custom' has a line break"):
        FetchConfig(headers=(("X-Custom", value),))


def test_fetch_config_rejects_a_user_agent_with_a_line_break() -> None:
    with pytest.raises(ConfigError):
        FetchConfig(user_agent="corocrawl/0.1\r\nX-Injected: 1")


def test_fetch_config_accepts_token_header_names_and_keeps_them() -> None:
    headers = (("Accept", "text/html"), ("X-Weird_Name.1~!#$%&'*+^`|", ""))
    assert FetchConfig(headers=headers).headers == headers


def test_fetch_config_lower_cases_record_headers() -> None:
    config = FetchConfig(record_headers=("Content-Type", "X-CACHE", "etag"))
    assert config.record_headers == ("content-type", "x-cache", "etag")


def test_fetch_config_defaults_record_the_default_headers() -> None:
    assert FetchConfig().record_headers == DEFAULT_RECORD_HEADERS


def test_config_objects_are_frozen() -> None:
    config = FetchConfig()
    with pytest.raises(AttributeError):
        config.user_agent = "changed"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        config.limits.concurrency = 5  # type: ignore[misc]


# -- the CLI's parsing of sizes, headers, and flags -----------------------------------------


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1048576", 1048576),
        ("0", 0),
        ("500k", 500_000),
        ("500 kB", 500_000),
        ("64KiB", 65_536),
        ("10MiB", 10 * 1024**2),
        ("2G", 2_000_000_000),
        ("1GiB", 1024**3),
        ("1.5mb", 1_500_000),
        ("  7b ", 7),
    ],
)
def test_byte_size_understands_plain_numbers_and_units(text: str, size: int) -> None:
    assert _byte_size(text) == size


@pytest.mark.parametrize("text", ["lots", "-1", "10XB", "", "k", "1e6", "1,000", "5 TB", "0x10"])
def test_byte_size_rejects_what_is_not_a_size(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="is not a size"):
        _byte_size(text)


@pytest.mark.parametrize(("text", "size"), [("1.001k", 1001), ("1.005k", 1005)])
def test_byte_size_of_a_decimal_is_not_rounded_down_by_float_error(text: str, size: int) -> None:
    assert _byte_size(text) == size


@pytest.mark.parametrize(
    ("text", "header"),
    [
        ("Accept: text/html", ("Accept", "text/html")),
        ("  X-Token :  abc  ", ("X-Token", "abc")),
        ("X-Time: 12:30:00", ("X-Time", "12:30:00")),
        ("X-Empty:", ("X-Empty", "")),
    ],
)
def test_header_splits_name_and_value_at_the_first_colon(
    text: str, header: tuple[str, str]
) -> None:
    assert _header(text) == header


@pytest.mark.parametrize("text", ["no colon here", ": value", "   : value", ""])
def test_header_without_a_name_and_colon_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match="is not of the form 'Name: value'"):
        _header(text)


def fetch_args(*flags: str) -> argparse.Namespace:
    return build_parser().parse_args(["fetch", "urls.txt", *flags])


def test_fetch_config_from_args_maps_every_flag() -> None:
    config = fetch_config_from_args(
        fetch_args(
            "--concurrency", "50",
            "--per-host", "4",
            "--per-ip", "6",
            "--timeout", "12",
            "--connect-timeout", "3",
            "--read-timeout", "2",
            "--retries", "5",
            "--max-bytes", "2MiB",
            "--max-redirects", "3",
            "-H", "Accept: text/html",
            "--header", "X-Token: abc",
            "--user-agent", "tests/1.0",
            "--record-header", "X-Cache",
            "--save-bodies", "bodies",
            "--credentials-origin", "https://Example.org",
        )
    )  # fmt: skip
    assert config.timeouts == Timeouts(total=12.0, connect=3.0, read=2.0)
    assert config.limits == Limits(
        concurrency=50, per_host=4, per_ip=6, max_body_bytes=2 * 1024**2, max_redirects=3
    )
    assert config.retry.retries == 5
    assert config.headers == (("Accept", "text/html"), ("X-Token", "abc"))
    assert config.user_agent == "tests/1.0"
    assert config.record_headers == (*DEFAULT_RECORD_HEADERS, "x-cache")
    assert config.save_bodies == Path("bodies")
    assert config.credentials_origins == ("https://example.org",)


def test_fetch_config_from_args_defaults_match_fetch_config_defaults() -> None:
    assert fetch_config_from_args(fetch_args()) == FetchConfig()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--retries", "-1"), "retries"),
        (("--max-redirects", "-2"), "max redirects"),
        (("-H", "Bad Name: v"), "bad header name"),
        (("-H", "novalue"), "--header 'novalue'"),
        (("--user-agent", " "), "user agent"),
    ],
)
def test_fetch_config_from_args_names_the_bad_option(flags: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        fetch_config_from_args(fetch_args(*flags))


def test_a_transport_is_one_of_those_the_engine_has() -> None:
    from corocrawl._config import TRANSPORT_NAMES
    from corocrawl._engine.transports import TRANSPORTS

    assert tuple(TRANSPORTS) == TRANSPORT_NAMES
    assert FetchConfig(transport="aiohttp").transport == "aiohttp"
    with pytest.raises(ConfigError, match=r"unknown transport 'httpx' \(known: aiohttp, curl\)"):
        FetchConfig(transport="httpx")


def test_a_credentials_origin_must_be_an_http_origin() -> None:
    with pytest.raises(ConfigError, match=r"credentials origin 'example\.org': give it as https"):
        FetchConfig(credentials_origins=("example.org",))
