"""Whether a finished attempt is tried again, after how long, and how long its host pauses."""

from __future__ import annotations

import email.utils
import math
import random
import time
from dataclasses import dataclass

from .._config import RetryPolicy
from .._exceptions import FetchError, FetchTimeout, NetworkError, TLSError

__all__ = ["RetryDecision", "decide_retry", "parse_retry_after"]

# Statuses that speak for the whole host, not one URL: the host is paused, not just the URL.
_HOST_WIDE_STATUSES = frozenset({429, 503})


@dataclass(frozen=True, slots=True)
class RetryDecision:
    retry: bool
    delay: float = 0.0
    host_pause: float = 0.0


FINAL = RetryDecision(retry=False)


def decide_retry(
    policy: RetryPolicy,
    attempts: int,
    *,
    status: int | None = None,
    error: FetchError | None = None,
    retry_after: str | None = None,
    rng: random.Random | None = None,
) -> RetryDecision:
    """Decide for an attempt that ended with `status` or `error` after `attempts` tries."""
    if error is None and status not in policy.retry_statuses and status not in _HOST_WIDE_STATUSES:
        return FINAL
    host_pause = 0.0
    if status is not None and status in _HOST_WIDE_STATUSES and retry_after is not None:
        waited = parse_retry_after(retry_after)
        if waited is not None:
            host_pause = min(waited, policy.retry_after_max)
    retryable = (
        isinstance(error, (FetchTimeout, NetworkError))
        and not (isinstance(error, TLSError) and error.certificate)  # it would be refused again
        if error is not None
        else status is not None and status in policy.retry_statuses
    )
    if not retryable or attempts > policy.retries:
        return RetryDecision(retry=False, host_pause=host_pause)
    # The exponent is capped so a long run of attempts cannot overflow a float.
    ceiling = min(policy.backoff_max, policy.backoff_base * 2 ** min(attempts - 1, 64))
    jittered = (rng or random).uniform(0, ceiling)
    return RetryDecision(retry=True, delay=max(jittered, host_pause), host_pause=host_pause)


def parse_retry_after(value: str, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None if bad."""
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    seconds = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, seconds) if math.isfinite(seconds) else None
