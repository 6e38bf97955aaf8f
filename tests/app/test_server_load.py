"""The live server's lag measure and the analysis rate it sets (fer_core.app.server_load)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from fer_core.app.server_load import AnalysisRate, FrameLag

RTP = Fraction(1, 90000)


def test_frames_on_time_have_no_lag_and_queued_ones_have_their_wait():
    lag = FrameLag()
    got = [lag.update(k * 6000, RTP, 100.0 + k / 15) for k in range(15)]  # 15 fps, each on time
    assert max(got) == pytest.approx(0.0, abs=1e-9)
    # from now on every frame waits 10 ms longer than the one before (a queue growing)
    late = [lag.update((15 + k) * 6000, RTP, 101.0 + k / 15 + 0.01 * k) for k in range(20)]
    assert late[-1] == pytest.approx(0.19, abs=1e-6)
    assert lag.update(None, None, 103.0) is None  # no timestamp, no measure


def test_the_lag_survives_the_timestamps_wrapping_and_restarts_when_they_go_back():
    lag = FrameLag()
    start = (1 << 32) - 3000
    assert lag.update(start, RTP, 10.0) == 0.0
    assert lag.update((start + 6000) % (1 << 32), RTP, 10.0 + 6000 / 90000 + 0.05) == pytest.approx(0.05)
    assert lag.update(5, RTP, 11.0) == 0.0  # went back: a new measure, not a 13-hour jump


def _rate(**kw) -> AnalysisRate:
    return AnalysisRate(high_s=0.25, low_s=0.1, cut=0.5, hold_s=1.0, raise_per_s=2.0, min_fps=1.0, max_fps=30.0,
                        window_s=0.5, **kw)


def test_a_late_server_cuts_the_rate_once_a_hold_and_never_below_the_least():
    rate = _rate()
    assert rate.interval_s() == 0.0  # keeping up: no limit
    for k in range(10):  # late for a second: one cut
        rate.report(1, 0.5, 100.0 + k / 10)
    assert rate.fps == 15.0 and rate.interval_s() == pytest.approx(1 / 15)
    for k in range(100):  # late for ten more seconds: from the 10 frames a second that come, halved
        rate.report(1, 0.5, 101.0 + k / 10)
    assert rate.fps == 1.0


def test_a_cut_starts_from_the_rate_frames_come_at():
    rate = _rate()
    for k in range(20):  # a 20 fps camera on time, then late
        rate.report(1, 0.0, 100.0 + k / 20)
    for k in range(20):
        rate.report(1, 0.5, 101.0 + k / 20)
    assert rate.fps == pytest.approx(10.0)  # half of 20, not of the 30 it was allowed


def test_a_stall_of_a_few_frames_is_not_a_queue():
    rate = _rate()
    lags = [0.0] * 10 + [0.4, 0.3, 0.2] + [0.0] * 10  # 0.15 s without frames, then their backlog
    for k, lag in enumerate(lags):
        rate.report(1, lag, 100.0 + k / 20)
    assert rate.fps == 30.0
    for k in range(10):  # late for the whole window: a queue
        rate.report(1, 0.4, 102.0 + k / 20)
    assert rate.fps < 30.0


def test_the_rate_climbs_back_while_streams_are_on_time_and_holds_in_between():
    rate = _rate()
    rate.report(1, 0.5, 100.0)
    assert rate.fps == 15.0
    for k in range(1, 10):  # on time, but inside the hold after the cut: no change
        rate.report(1, 0.0, 100.0 + k / 10)
    assert rate.fps == 15.0
    for k in range(20):  # two seconds on time: +2 fps a second
        rate.report(1, 0.0, 101.0 + k / 10)
    assert rate.fps == pytest.approx(19.0)
    for k in range(1, 31):  # between low and high: once the on-time frames left the window, neither
        rate.report(1, 0.2, 103.0 + k / 10)
        if k == 5:
            held = rate.fps
    assert held == pytest.approx(20.0)  # 19 + 2 x the half second the on-time frames stayed in the window
    assert rate.fps == pytest.approx(held)


def test_the_median_stream_decides_so_one_slow_client_does_not_slow_the_rest():
    rate = _rate()
    for k in range(30):
        t = 100.0 + k / 10
        rate.report(2, 0.0, t)
        rate.report(3, 0.05, t)
        rate.report(1, 2.0, t)  # a client far away
    assert rate.fps == 30.0
    rate.forget(2), rate.forget(3)  # alone, its lag is the server's to answer
    rate.report(1, 2.0, 103.1)
    assert rate.fps <= 5.0  # half the rate its frames came at (10 a second at most)


def test_a_stream_after_a_quiet_while_starts_unlimited():
    rate = _rate()
    for k in range(30):
        rate.report(1, 0.5, 100.0 + k / 10)
    assert rate.fps < 30.0
    rate.forget(1)
    rate.report(2, 0.0, 103.0)
    assert rate.fps == 30.0
