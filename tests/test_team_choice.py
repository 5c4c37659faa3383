"""TeamChooser (cpp/include/gdcore/parallel.hpp) on a simulated clock.

The training loops and gdcore.optim's engine run each parallel step either on their team of
threads or on the calling thread, whichever has lately cost less. Real timings are noisy, so
these tests give the chooser made-up step times and check what it picks: step i costs
team[i] seconds on the team and serial[i] on one thread. The bounds come from its design:
tries of the losing side cost at most about 1/20 of the time, and a team that stalls often (a
busy neighbour takes its thread's core) must lose to one thread, while a rare stall must not
cost the team its lead.
"""

import numpy as np
import pytest

from gdcore import _core

N = 20_000
FAST, SLOW, STALL = 30e-6, 60e-6, 0.010  # team step, one-thread step, a lost time slice


def _simulate(team, serial):
    used = np.array(_core._simulate_team_choice(2, list(team), list(serial)))
    assert set(np.unique(used)) <= {1, 2}
    return used, float(np.where(used == 1, serial, team).sum())


def _stalling(every, n=N):
    team = np.full(n, FAST)
    team[::every] = STALL
    return team


@pytest.fixture(autouse=True)
def _adaptive():
    before = _core.team_policy()
    _core.set_team_policy("adaptive")
    yield
    _core.set_team_policy(before)


def test_a_faster_team_keeps_the_lead():
    team, serial = np.full(N, FAST), np.full(N, SLOW)
    used, total = _simulate(team, serial)
    assert (used[:4] == 1).all()  # one thread first, until it has a measured cost
    assert np.mean(used == 2) > 0.99
    assert total <= 1.02 * team.sum()


def test_a_slower_team_loses():
    team, serial = np.full(N, 80e-6), np.full(N, SLOW)
    used, total = _simulate(team, serial)
    assert np.mean(used == 1) > 0.99
    assert total <= 1.05 * serial.sum()


@pytest.mark.parametrize("every", [4, 20, 100])
def test_a_team_that_stalls_often_loses_to_one_thread(every):
    # A stall every 100 steps still makes the team 4x slower than one thread overall.
    team, serial = _stalling(every), np.full(N, SLOW)
    assert team.sum() > 2 * serial.sum()
    used, total = _simulate(team, serial)
    assert total <= 1.10 * serial.sum(), (total, serial.sum())


def test_a_rare_stall_does_not_cost_the_team_its_lead():
    # One 17 ms stall every 5000 steps (~0.15 s): the team is still twice as fast overall.
    team, serial = np.full(N, FAST), np.full(N, SLOW)
    team[::5000] = 0.017
    used, total = _simulate(team, serial)
    assert np.mean(used == 2) > 0.95
    assert total <= 1.02 * team.sum()


def test_the_team_comes_back_when_the_neighbour_stops():
    n, change = 60_000, 20_000  # busy for 1.2 s of one-thread steps, then quiet
    team, serial = _stalling(4, n), np.full(n, SLOW)
    team[change:] = FAST
    used, total = _simulate(team, serial)
    assert np.mean(used[:change] == 1) > 0.99
    back = change + int(np.argmax(used[change:] == 2))
    assert used[back] == 2
    assert serial[change:back].sum() <= 2 * 1.0  # tried again within two of the longest gaps
    assert np.mean(used[back:] == 2) > 0.99


def test_one_thread_takes_over_when_a_neighbour_starts():
    team, serial = _stalling(4), np.full(N, SLOW)
    team[: N // 2] = FAST
    used, total = _simulate(team, serial)
    assert np.mean(used[: N // 2] == 2) > 0.99
    assert np.mean(used[N // 2 :] == 1) > 0.95
    # Noticing the change costs at most about one kHorizon (0.1 s) of the team's stalls, and
    # the tries after it at most ~1/20.
    assert total <= team[: N // 2].sum() + 1.05 * serial[N // 2 :].sum() + 0.1


@pytest.mark.parametrize("policy,count", [("team", 2), ("serial", 1)])
def test_forced_policies(policy, count):
    _core.set_team_policy(policy)
    used, _ = _simulate(_stalling(4), np.full(N, SLOW))
    assert (used == count).all()


def test_one_thread_team_never_forks():
    used = _core._simulate_team_choice(1, [FAST] * 100, [SLOW] * 100)
    assert used == [1] * 100
