"""Ctrl-C during long Rust calls: a child process runs each long call, the
test sends it SIGINT, and the child must raise KeyboardInterrupt within about
a second, with the object still usable afterwards (see `src/interrupt.rs`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

pytestmark = pytest.mark.skipif(os.name != "posix", reason="sends SIGINT")

# Each case: setup (names the long call `run` and a check `usable`), as code run
# in the child. Sizes make every call take many seconds uninterrupted.
CHILD = textwrap.dedent(
    """
    import signal, sys, time
    import numpy as np
    import rnnrs as rr

    # Python keeps SIGINT ignored when it starts with it ignored (a child of a non-interactive
    # shell's background job, as `nohup ... &`); a user at a terminal has the default handler.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    def cases():
        lstm = rr.LSTM(1, 512, seed=0)
        x_long = np.zeros((20000, 1, 1), np.float32)
        x_short = np.ones((5, 1, 1), np.float32)
        y_ref = lstm(x_short)[0]
        yield "layer forward", lambda: lstm(x_long), lambda: np.array_equal(lstm(x_short)[0], y_ref)

        y, _ = lstm.forward(np.zeros((12000, 1, 1), np.float32))
        def usable_after_backward():
            lstm.zero_grad()
            y, _ = lstm.forward(x_short)
            lstm.backward(np.ones_like(y))
            return all(np.isfinite(g).all() for g in lstm.grads.values())
        yield "layer backward", lambda: lstm.backward(np.ones_like(y)), usable_after_backward

        res = rr.Reservoir(1000, connectivity=1.0, sparse=False, dtype=np.float32, seed=0)
        u = np.zeros((20000, 1), np.float32)
        res.run(u[:2])
        s_ref = res.run(u[:5])
        yield "reservoir run", lambda: res.run(u), lambda: np.array_equal(res.run(u[:5]), s_ref)

        ridge = rr.Ridge(alpha=1e-3)
        X = np.random.default_rng(0).normal(size=(20000, 1200))
        ridge.partial_fit(X[:50], X[:50, :1])
        coef_ref = ridge.solve().coef_.copy()
        def usable_after_ridge():
            return np.array_equal(ridge.solve().coef_, coef_ref)
        yield "ridge accumulate", lambda: ridge.partial_fit(X, X[:, :1]), usable_after_ridge

        cell = rr.rtrl.Cell("LSTM", 4, 64, seed=0)
        xr = np.zeros((2000, 1, 4))
        dr = np.ones((2000, 1, 64))
        g_ref = rr.rtrl.gradient(cell, xr[:3], dr[:3])[0]
        def usable_after_rtrl():
            g = rr.rtrl.gradient(cell, xr[:3], dr[:3])[0]
            return all(np.array_equal(g[k], g_ref[k]) for k in g)
        yield "rtrl gradient", lambda: rr.rtrl.gradient(cell, xr, dr), usable_after_rtrl

        model = rr.Sequential(rr.LSTM(8, 256, seed=0), rr.Linear(256, 1, seed=1))
        opt = rr.optim.Adam(model.params, lr=1e-3)
        xf = np.zeros((400, 32, 8), np.float32)
        yf = np.zeros((400, 32, 1), np.float32)
        def usable_after_fit():
            h = rr.train.fit(model, (xf[:5, :2], yf[:5, :2]), "mse", opt, progress=False)
            return np.isfinite(h["train_loss"][0])
        yield "fit", lambda: rr.train.fit(model, (xf, yf), "mse", opt, epochs=1000, progress=False), usable_after_fit

        lm = rr.Sequential(rr.Embedding(10, 8, seed=0), rr.LSTM(8, 512, seed=1), rr.Linear(512, 10, seed=2))
        g_ref = rr.generate(lm, [1, 2], 20, seed=0)
        yield ("generate", lambda: rr.generate(lm, [1, 2], 2_000_000, seed=0),
               lambda: np.array_equal(rr.generate(lm, [1, 2], 20, seed=0), g_ref))

    for name, run, usable in cases():
        for attempt in range(2):  # a second attempt only if the first call was not interrupted
            print("ready", name, flush=True)
            try:
                run()
                print("finished", name, flush=True)
            except KeyboardInterrupt:
                print("caught", name, flush=True)
                print("usable" if usable() else "broken", name, flush=True)
                break
            print("usable" if usable() else "broken", name, flush=True)
    """
)


def test_ctrl_c_interrupts_long_calls_and_leaves_objects_usable():
    env = dict(os.environ, RNNRS_NUM_THREADS="2")
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env)
    latencies, missed = {}, set()
    try:
        while True:
            line = child.stdout.readline().strip()
            if not line:
                break
            assert line.startswith("ready "), line
            name = line[len("ready "):]
            time.sleep(0.1)  # inside the call (each case runs for a second or more)
            sent = time.perf_counter()
            child.send_signal(signal.SIGINT)
            outcome = child.stdout.readline().strip()
            latency = time.perf_counter() - sent
            assert child.stdout.readline().strip() == f"usable {name}"
            if outcome == f"finished {name}" and name not in missed:
                # A call that ran to its end (SIGINT lost in a race with the call's start) is tried
                # once more; a second miss fails the test.
                missed.add(name)
                continue
            latencies[name] = latency
            assert outcome == f"caught {name}", outcome
        assert child.wait(timeout=60) == 0, child.stderr.read()
    finally:
        if child.poll() is None:
            child.kill()
    assert set(latencies) == {"layer forward", "layer backward", "reservoir run", "ridge accumulate",
                              "rtrl gradient", "fit", "generate"}
    print("Ctrl-C latencies (s):", {k: round(v, 3) for k, v in latencies.items()}, "missed once:", missed)
    # ~1 s; on an overloaded machine (more runnable jobs than 2x the cores) thread wake-ups lag, allow 3 s.
    limit = 3.0 if os.getloadavg()[0] > 2 * (os.cpu_count() or 1) else 1.5
    slow = {k: round(v, 2) for k, v in latencies.items() if v > limit}
    assert not slow, f"KeyboardInterrupt came late: {slow}"
