"""The pacer: adaptive window on 429s, requests and tokens per minute (a fake clock, no sleeping)."""

from __future__ import annotations

import threading

import pytest

from coder_assist.suggest.pacing import Pacer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.now += s


def test_the_window_halves_on_a_429_and_grows_back_one_at_a_time():
    p = Pacer(concurrency=8, recover=3)
    p.throttled()
    assert p.window == 4
    p.throttled()
    p.throttled()
    p.throttled()
    assert p.window == 1 and p.lowest == 1 and p.throttles == 4
    for _ in range(2):
        p.succeeded()
    assert p.window == 1  # not yet: 3 in a row are needed
    p.succeeded()
    assert p.window == 2
    for _ in range(3 * 10):
        p.succeeded()
    assert p.window == 8  # never above the configured concurrency


def test_a_429_in_the_middle_of_a_streak_resets_it():
    p = Pacer(concurrency=4, recover=2)
    p.throttled()
    p.succeeded()
    p.throttled()
    p.succeeded()
    assert p.window == 1


def test_requests_per_minute_wait_for_the_oldest_to_leave_the_minute():
    c = Clock()
    p = Pacer(rpm=3, clock=c, sleep=c.sleep)
    for _ in range(3):
        assert p.wait_turn() == 0
    c.now += 10
    assert p.wait_turn() == pytest.approx(50)  # the first request leaves the minute at +60
    assert c.now == pytest.approx(1060)


def test_tokens_per_minute():
    c = Clock()
    p = Pacer(tpm=1000, clock=c, sleep=c.sleep)
    p.wait_turn(600)
    c.now += 5
    p.wait_turn(300)
    c.now += 5
    assert p.wait_turn(300) == pytest.approx(50)  # 1,200 > 1,000 until the 600 leaves
    assert p.wait_turn(5000) > 0  # a request over the whole budget waits for an empty minute, not forever


def test_retry_after_pauses_every_worker():
    c = Clock()
    p = Pacer(clock=c, sleep=c.sleep)
    p.throttled(retry_after=2.5)
    assert p.wait_turn() == pytest.approx(2.5)
    assert p.wait_turn() == 0


def test_concurrent_workers_never_exceed_the_rate():
    c = Clock()
    lock = threading.Lock()

    def sleep(s: float) -> None:
        with lock:
            c.now += s

    p = Pacer(rpm=20, clock=c, sleep=sleep)
    threads = [threading.Thread(target=lambda: [p.wait_turn() for _ in range(10)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    times = sorted(t for t, _ in p._sent)
    assert len(times) <= 20  # only the last minute is kept
    assert c.now - 1000.0 >= 60  # 40 requests at 20 a minute need at least a minute


def test_concurrency_must_be_positive():
    with pytest.raises(ValueError):
        Pacer(concurrency=0)
