"""multiprocessing with the fork start method after rnnrs used its thread
pool: the child rebuilds the pool (the parent's workers do not exist there)
and computes the same results."""

from __future__ import annotations

import multiprocessing as mp
import os

import numpy as np
import pytest

import rnnrs

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


def _forward(seed: int) -> np.ndarray:
    lstm = rnnrs.LSTM(16, 64, seed=seed)
    x = np.random.default_rng(seed).normal(size=(50, 8, 16)).astype(np.float32)
    return lstm(x)[0]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Python 3.12 warns about fork with threads
def test_fork_after_the_pool_was_used():
    old = rnnrs.get_num_threads()
    rnnrs.set_num_threads(2)
    try:
        want = [_forward(s) for s in range(3)]  # starts the pool's threads in the parent
        with mp.get_context("fork").Pool(2) as pool:
            got = pool.map_async(_forward, range(3)).get(timeout=120)
        for w, g in zip(want, got):
            np.testing.assert_array_equal(w, g)
        assert np.array_equal(_forward(0), want[0])  # the parent's pool still works
    finally:
        rnnrs.set_num_threads(old)
