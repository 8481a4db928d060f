"""decide_retry and parse_retry_after: which attempts are tried again, how soon, and host pauses."""

from __future__ import annotations

import email.utils
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from corocrawl import (
    BlockedURL,
    ConnectError,
    ConnectTimeout,
    DNSError,
    FetchError,
    FetchTimeout,
    NetworkError,
    ProtocolError,
    ReadError,
    ReadTimeout,
    ResponseTooLarge,
    RetryPolicy,
    TLSError,
    TooManyRedirects,
)
from corocrawl._engine.retry import RetryDecision, decide_retry, parse_retry_after

URL = "http://example.com/"
NOW = 1_700_000_000.0  # a fixed "now" for HTTP-date Retry-After values


def http_date(timestamp: float) -> str:
    return email.utils.formatdate(timestamp, usegmt=True)


# -- what is final ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 204, 301, 304, 400, 403, 404, 410])
def test_no_retry_for_success_redirect_and_client_error_statuses(status: int) -> None:
    decision = decide_retry(RetryPolicy(retries=3), 1, status=status)
    assert decision == RetryDecision(retry=False, delay=0.0, host_pause=0.0)


@pytest.mark.parametrize(
    "error",
    [
        TooManyRedirects("too many", url=URL),
        ResponseTooLarge("too big", url=URL),
        BlockedURL("scheme 'ftp' is not fetched", url=URL),
        FetchError("something else", url=URL),
        TLSError("unable to get local issuer certificate", url=URL, certificate=True),
    ],
    ids=lambda error: type(error).__name__,
)
def test_no_retry_for_errors_that_would_fail_again(error: FetchError) -> None:
    decision = decide_retry(RetryPolicy(retries=5), 1, error=error, rng=random.Random(1))
    assert decision.retry is False
    assert decision.delay == 0.0
    assert decision.host_pause == 0.0


def test_status_outside_retry_statuses_is_final_even_if_usually_retried() -> None:
    policy = RetryPolicy(retries=3, retry_statuses=frozenset({500}))
    assert decide_retry(policy, 1, status=502).retry is False
    assert decide_retry(policy, 1, status=500, rng=random.Random(0)).retry is True


# -- what is retried, and until when --------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        FetchTimeout("deadline passed", url=URL),
        ConnectTimeout("connect timed out", url=URL),
        ReadTimeout("read timed out", url=URL),
        NetworkError("broken", url=URL),
        ConnectError("refused", url=URL),
        DNSError("no such host", url=URL),
        ReadError("reset", url=URL),
        ProtocolError("not HTTP", url=URL),
        TLSError("handshake broken off", url=URL),  # not the certificate: it may pass
    ],
    ids=lambda error: type(error).__name__,
)
def test_timeouts_and_network_errors_are_retried_until_attempts_exceed_retries(
    error: FetchError,
) -> None:
    policy = RetryPolicy(retries=3)
    rng = random.Random(7)
    outcomes = [decide_retry(policy, n, error=error, rng=rng).retry for n in range(1, 6)]
    assert outcomes == [True, True, True, False, False]


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retry_statuses_are_retried_until_attempts_exceed_retries(status: int) -> None:
    policy = RetryPolicy(retries=2)
    rng = random.Random(3)
    outcomes = [decide_retry(policy, n, status=status, rng=rng).retry for n in range(1, 5)]
    assert outcomes == [True, True, False, False]


def test_zero_retries_means_the_first_attempt_is_final() -> None:
    policy = RetryPolicy(retries=0)
    assert decide_retry(policy, 1, status=503).retry is False
    assert decide_retry(policy, 1, error=ReadError("reset", url=URL)).retry is False


# -- backoff --------------------------------------------------------------------------------


def test_backoff_delay_stays_within_the_exponential_ceiling_for_a_seeded_rng() -> None:
    policy = RetryPolicy(retries=10, backoff_base=0.5, backoff_max=3.0)
    rng = random.Random(12345)
    for attempts in range(1, 11):
        ceiling = min(3.0, 0.5 * 2 ** (attempts - 1))
        for _ in range(50):
            decision = decide_retry(policy, attempts, status=503, rng=rng)
            assert decision.retry is True
            assert 0.0 <= decision.delay <= ceiling


def test_backoff_is_jittered_not_constant() -> None:
    policy = RetryPolicy(retries=5, backoff_base=1.0, backoff_max=100.0)
    rng = random.Random(99)
    delays = {decide_retry(policy, 3, status=500, rng=rng).delay for _ in range(20)}
    assert len(delays) > 1


def test_same_seed_gives_the_same_delays() -> None:
    policy = RetryPolicy(retries=5)
    first = [decide_retry(policy, n, status=502, rng=random.Random(42)).delay for n in (1, 2, 3)]
    again = [decide_retry(policy, n, status=502, rng=random.Random(42)).delay for n in (1, 2, 3)]
    assert first == again


def test_zero_backoff_base_retries_at_once() -> None:
    policy = RetryPolicy(retries=3, backoff_base=0.0)
    decision = decide_retry(policy, 2, error=ConnectError("refused", url=URL))
    assert decision == RetryDecision(retry=True, delay=0.0, host_pause=0.0)


@given(
    retries=st.integers(min_value=1, max_value=60),
    data=st.data(),
    base=st.floats(min_value=0.0, max_value=100.0, allow_nan=False),
    maximum=st.floats(min_value=0.0, max_value=1000.0, allow_nan=False),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_backoff_delay_is_between_zero_and_the_capped_exponential(
    retries: int, data: st.DataObject, base: float, maximum: float, seed: int
) -> None:
    attempts = data.draw(st.integers(min_value=1, max_value=retries), label="attempts")
    policy = RetryPolicy(retries=retries, backoff_base=base, backoff_max=maximum)
    decision = decide_retry(policy, attempts, status=503, rng=random.Random(seed))
    assert decision.retry is True
    assert decision.host_pause == 0.0
    assert 0.0 <= decision.delay <= min(maximum, base * 2 ** (attempts - 1))


@given(
    retries=st.integers(min_value=0, max_value=20),
    extra=st.integers(min_value=1, max_value=50),
    status=st.sampled_from([429, 500, 502, 503, 504]),
)
def test_no_retry_once_attempts_exceed_retries(retries: int, extra: int, status: int) -> None:
    policy = RetryPolicy(retries=retries)
    assert decide_retry(policy, retries + extra, status=status).retry is False
    error = ReadTimeout("slow", url=URL)
    assert decide_retry(policy, retries + extra, error=error).retry is False


def test_backoff_does_not_overflow_for_very_many_attempts() -> None:
    policy = RetryPolicy(retries=5000, backoff_base=0.5, backoff_max=30.0)
    decision = decide_retry(policy, 1100, status=503, rng=random.Random(0))
    assert decision.retry is True
    assert 0.0 <= decision.delay <= 30.0


# -- Retry-After ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_on_host_wide_status_pauses_the_host(status: int) -> None:
    policy = RetryPolicy(retries=3, backoff_base=0.5, backoff_max=1.0, retry_after_max=60.0)
    decision = decide_retry(policy, 1, status=status, retry_after="20", rng=random.Random(5))
    assert decision.retry is True
    assert decision.host_pause == 20.0
    assert decision.delay >= decision.host_pause


def test_retry_after_pause_is_capped_at_retry_after_max() -> None:
    policy = RetryPolicy(retries=3, retry_after_max=10.0)
    decision = decide_retry(policy, 1, status=429, retry_after="3600", rng=random.Random(5))
    assert decision.host_pause == 10.0
    assert decision.delay >= 10.0


def test_retry_after_pauses_the_host_even_when_no_retries_are_left() -> None:
    policy = RetryPolicy(retries=1, retry_after_max=60.0)
    decision = decide_retry(policy, 2, status=503, retry_after="30")
    assert decision.retry is False
    assert decision.host_pause == 30.0


def test_retry_after_on_other_statuses_does_not_pause_the_host() -> None:
    policy = RetryPolicy(retries=3, backoff_base=0.5, backoff_max=1.0)
    decision = decide_retry(policy, 1, status=500, retry_after="50", rng=random.Random(5))
    assert decision.retry is True
    assert decision.host_pause == 0.0
    assert decision.delay <= 0.5


def test_junk_retry_after_is_ignored() -> None:
    policy = RetryPolicy(retries=3, backoff_base=0.5, backoff_max=1.0)
    decision = decide_retry(policy, 1, status=503, retry_after="soon", rng=random.Random(5))
    assert decision.retry is True
    assert decision.host_pause == 0.0
    assert decision.delay <= 0.5


@pytest.mark.parametrize(("value", "seconds"), [("0", 0.0), ("120", 120.0), ("  7 ", 7.0)])
def test_retry_after_delta_seconds(value: str, seconds: float) -> None:
    assert parse_retry_after(value) == seconds


def test_retry_after_http_date_in_the_future_gives_seconds_until_then() -> None:
    assert parse_retry_after(http_date(NOW + 90), now=NOW) == pytest.approx(90.0)


def test_retry_after_http_date_in_the_past_gives_zero() -> None:
    assert parse_retry_after(http_date(NOW - 3600), now=NOW) == 0.0


def test_retry_after_rfc_example_date_is_understood() -> None:
    # The example of RFC 9110, section 10.2.3, seen from one minute before it.
    when = email.utils.parsedate_to_datetime("Fri, 31 Dec 1999 23:59:59 GMT").timestamp()
    seconds = parse_retry_after("Fri, 31 Dec 1999 23:59:59 GMT", now=when - 60)
    assert seconds == pytest.approx(60.0)


@pytest.mark.parametrize("value", ["", "soon", "-5", "1.5", "10s", "Friday", "31 Foo 1999"])
def test_retry_after_junk_gives_none(value: str) -> None:
    assert parse_retry_after(value, now=NOW) is None


def test_retry_after_unicode_digit_junk_gives_none() -> None:
    assert parse_retry_after("²") is None
