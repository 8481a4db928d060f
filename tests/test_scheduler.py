"""The scheduler's decisions, driven with an explicit clock: no network, no sleeping."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from corocrawl._engine.scheduler import ADDRESS_TTL, Scheduler


def drain(scheduler: Scheduler[str], now: float) -> list[tuple[str, str]]:
    started = []
    while (picked := scheduler.pop_ready(now)) is not None:
        started.append(picked)
    return started


def test_global_limit_caps_items_in_flight() -> None:
    scheduler: Scheduler[str] = Scheduler(concurrency=3, per_host=10)
    for i in range(5):
        scheduler.add(f"u{i}", f"h{i}", now=0)
    assert len(drain(scheduler, 0)) == 3
    assert scheduler.in_flight == 3
    scheduler.release("h0", now=1)
    assert [item for item, _ in drain(scheduler, 1)] == ["u3"]


def test_per_host_limit_lets_other_hosts_pass() -> None:
    scheduler: Scheduler[str] = Scheduler(concurrency=10, per_host=2)
    for i in range(5):
        scheduler.add(f"a{i}", "a", now=0)
    scheduler.add("b0", "b", now=0)
    started = drain(scheduler, 0)
    assert sorted(item for item, _ in started) == ["a0", "a1", "b0"]


def test_hosts_take_turns() -> None:
    scheduler: Scheduler[str] = Scheduler(concurrency=4, per_host=4)
    for i in range(4):
        scheduler.add(f"a{i}", "a", now=0)
    for i in range(4):
        scheduler.add(f"b{i}", "b", now=0)
    hosts = [host for _, host in drain(scheduler, 0)]
    assert hosts == ["a", "b", "a", "b"]


def test_delay_spaces_starts_on_one_host() -> None:
    scheduler: Scheduler[str] = Scheduler(concurrency=10, per_host=10, delay=2.0)
    for i in range(3):
        scheduler.add(f"a{i}", "a", now=0)
    scheduler.add("b0", "b", now=0)
    assert sorted(item for item, _ in drain(scheduler, 0)) == ["a0", "b0"]
    assert scheduler.next_wakeup() == 2.0
    assert drain(scheduler, 1.9) == []
    assert [item for item, _ in drain(scheduler, 2.0)] == ["a1"]
    assert [item for item, _ in drain(scheduler, 4.0)] == ["a2"]


def test_an_unused_start_gives_its_delay_back() -> None:
    """A robots.txt refusal or a deferral sends nothing: the host's next item need not wait."""
    scheduler: Scheduler[str] = Scheduler(concurrency=10, per_host=1, delay=5.0)
    for item in ("fetched", "refused", "next"):
        scheduler.add(item, "a", now=0)
    assert drain(scheduler, 0) == [("fetched", "a")]
    scheduler.release("a", now=0.1)
    assert drain(scheduler, 4.9) == []  # a fetch spaces the next start by the delay
    assert drain(scheduler, 5.0) == [("refused", "a")]
    scheduler.release("a", now=5.1, unused=True)
    assert drain(scheduler, 5.1) == [("next", "a")]  # at once: the refusal cost nothing
    scheduler.release("a", now=5.2)
    scheduler.add("last", "a", now=5.2)
    assert drain(scheduler, 10.0) == []
    assert drain(scheduler, 10.1) == [("last", "a")]


def test_pause_holds_one_host_only() -> None:
    scheduler: Scheduler[str] = Scheduler(concurrency=10, per_host=1)
    scheduler.add("a0", "a", now=0)
    scheduler.add("a1", "a", now=0)
    scheduler.add("b0", "b", now=0)
    scheduler.add("b1", "b", now=0)
    drain(scheduler, 0)
    scheduler.release("a", now=1, pause=30)
    scheduler.release("b", now=1)
    assert [item for item, _ in drain(scheduler, 1)] == ["b1"]
    assert drain(scheduler, 30) == []
    assert [item for item, _ in drain(scheduler, 31)] == ["a1"]


def test_delayed_item_waits_for_its_time() -> None:
    scheduler: Scheduler[str] = Scheduler(concurrency=10, per_host=10)
    scheduler.add("retry", "a", now=0, not_before=5)
    assert scheduler.waiting == 1
    assert drain(scheduler, 4.9) == []
    assert scheduler.next_wakeup() == 5
    assert drain(scheduler, 5) == [("retry", "a")]


def test_idle_host_is_forgotten_after_its_delay() -> None:
    scheduler: Scheduler[str] = Scheduler(concurrency=10, per_host=10, delay=1.0)
    scheduler.add("a0", "a", now=0)
    drain(scheduler, 0)
    scheduler.release("a", now=0.5)
    assert scheduler.idle
    scheduler.add("a1", "a", now=0.6)
    assert drain(scheduler, 0.6) == []  # the delay is still owed
    assert drain(scheduler, 1.0) == [("a1", "a")]
    scheduler.release("a", now=1.1)
    drain(scheduler, 5)
    assert scheduler._hosts == {}


# Hosts h0 and h1 share an address, h2 has its own, and h3's name does not resolve.
ADDRESSES = {"h0": "192.0.2.1", "h1": "192.0.2.1", "h2": "192.0.2.2", "h3": None}


@settings(max_examples=200, deadline=None)
@given(
    concurrency=st.integers(1, 6),
    per_host=st.integers(1, 4),
    per_address=st.none() | st.integers(1, 3),
    delay=st.sampled_from([0.0, 0.5]),
    plan=st.lists(
        st.tuples(st.integers(0, 3), st.floats(0, 3), st.booleans(), st.booleans()),
        min_size=1,
        max_size=40,
    ),
)
def test_every_item_starts_once_within_limits(
    concurrency: int,
    per_host: int,
    per_address: int | None,
    delay: float,
    plan: list[tuple[int, float, bool, bool]],
) -> None:
    """Whatever the mix of hosts, addresses, retry timers and pauses: each item starts exactly
    once, no limit is ever exceeded, and the scheduler ends idle."""
    scheduler: Scheduler[int] = Scheduler(
        concurrency=concurrency, per_host=per_host, delay=delay, per_address=per_address
    )
    for index, (host, wait, _, _) in enumerate(plan):
        scheduler.add(index, f"h{host}", now=0, not_before=wait)
    started: list[int] = []
    running: list[tuple[int, str]] = []
    now = 0.0
    for _ in range(10_000):
        while (picked := scheduler.pop_ready(now)) is not None:
            running.append(picked)
            started.append(picked[0])
            per = sum(1 for _, host in running if host == picked[1])
            assert per <= per_host
            assert len(running) <= concurrency
            address = ADDRESSES[picked[1]]
            if per_address is not None and address is not None:
                assert sum(1 for _, host in running if ADDRESSES[host] == address) <= per_address
        unresolved = scheduler.take_unresolved()
        for host in unresolved:
            scheduler.set_address(host, ADDRESSES[host], now=now)
        if unresolved:
            continue
        if running:
            item, host = running.pop(0)
            _, _, paused, unused = plan[item]
            scheduler.release(host, now=now, pause=1.0 if paused else 0.0, unused=unused)
        elif scheduler.idle:
            break
        else:
            wake = scheduler.next_wakeup()
            assert wake is not None, "waiting items but no timer to wake them"
            now = max(now, wake)
    assert sorted(started) == list(range(len(plan)))
    assert scheduler.idle


def test_hosts_on_one_address_share_its_slots_and_take_turns_at_them() -> None:
    scheduler: Scheduler[str] = Scheduler(concurrency=10, per_host=10, per_address=2)
    for host in ("a.example", "b.example", "c.example"):
        for i in range(2):
            scheduler.add(f"{host[0]}{i}", host, now=0)
    assert drain(scheduler, 0) == []  # not before their address is known
    assert sorted(scheduler.take_unresolved()) == ["a.example", "b.example", "c.example"]
    assert scheduler.take_unresolved() == []  # each host is looked up once
    for host in ("a.example", "b.example", "c.example"):
        scheduler.set_address(host, "192.0.2.1", now=0)
    assert [item for item, _ in drain(scheduler, 0)] == ["a0", "b0"]
    scheduler.release("a.example", now=1)
    assert [item for item, _ in drain(scheduler, 1)] == ["c0"]  # the waiting host goes first
    scheduler.release("b.example", now=2)
    assert [item for item, _ in drain(scheduler, 2)] == ["a1"]
    scheduler.add("d0", "d.example", now=2)
    scheduler.set_address("d.example", "192.0.2.1", now=2)
    scheduler.add("e0", "e.example", now=2)
    scheduler.set_address("e.example", None, now=2)  # did not resolve: not held back
    assert drain(scheduler, 2) == [("e0", "e.example")]


def test_a_hosts_address_is_looked_up_again_after_an_hour() -> None:
    scheduler: Scheduler[str] = Scheduler(concurrency=10, per_host=10, per_address=1)
    scheduler.add("a0", "a.example", now=0)
    assert scheduler.take_unresolved() == ["a.example"]
    scheduler.set_address("a.example", "192.0.2.1", now=0)
    assert drain(scheduler, 0) == [("a0", "a.example")]
    scheduler.release("a.example", now=1)
    scheduler.add("a1", "a.example", now=60)
    assert drain(scheduler, 60) == [("a1", "a.example")]  # remembered: no lookup
    scheduler.release("a.example", now=61)
    scheduler.add("a2", "a.example", now=ADDRESS_TTL + 1)
    assert scheduler.take_unresolved() == ["a.example"]


def test_a_host_delay_applies_at_once_and_outlives_the_idle_host() -> None:
    scheduler: Scheduler[str] = Scheduler(concurrency=10, per_host=4)
    scheduler.add("a0", "a", now=0)
    scheduler.add("a1", "a", now=0)
    assert [item for item, _ in drain(scheduler, 0)] == ["a0", "a1"]
    scheduler.set_delay("a", 5.0, now=0)  # learnt from robots.txt while a0 was in flight
    scheduler.add("a2", "a", now=0)
    scheduler.release("a", now=1)
    scheduler.release("a", now=1)
    assert drain(scheduler, 4.9) == []
    assert drain(scheduler, 5.0) == [("a2", "a")]
    scheduler.release("a", now=5.0)
    drain(scheduler, 20)  # the host is idle and forgotten
    scheduler.add("a3", "a", now=20)
    scheduler.add("a4", "a", now=20)
    assert drain(scheduler, 20) == [("a3", "a")]  # the delay was remembered
    assert scheduler.next_wakeup() == 25.0


def test_drain_takes_back_everything_not_started() -> None:
    scheduler: Scheduler[str] = Scheduler(concurrency=1, per_host=1)
    for item, host in (("a0", "a"), ("a1", "a"), ("b0", "b")):
        scheduler.add(item, host, now=0)
    scheduler.add("retry", "c", now=0, not_before=10)
    assert drain(scheduler, 0) == [("a0", "a")]
    assert sorted(scheduler.drain()) == ["a1", "b0", "retry"]
    assert (scheduler.waiting, scheduler.in_flight) == (0, 1)
    scheduler.release("a", now=1)
    assert scheduler.idle
    assert drain(scheduler, 20) == []
