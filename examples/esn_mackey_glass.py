"""Echo-state network on Mackey-Glass: one-step forecast and closed-loop generation.

    python examples/esn_mackey_glass.py

Plots the forecasts when matplotlib is installed.
"""

from __future__ import annotations

import time

import numpy as np
import rnnrs as rr
from rnnrs.datasets import mackey_glass
from rnnrs.metrics import nrmse

series = mackey_glass(3102, seed=0)
series = 2 * (series - series.min()) / (series.max() - series.min()) - 1  # to [-1, 1]
X, Y = series[:-1], series[1:]

esn = rr.ESN(units=500, spectral_radius=1.25, leak_rate=0.3, input_scaling=1.0, connectivity=0.1, ridge=1e-7, seed=0)
t = time.perf_counter()
esn.fit(X[:2100], Y[:2100], warmup=100)
print(f"fit: {time.perf_counter() - t:.3f} s")

one_step = esn.predict(X[:3100])[2100:]  # predict runs from the zero state: keep the context
print(f"one-step NRMSE over 1000 test steps: {nrmse(Y[2100:3100], one_step):.2e}")

generated = esn.generate(500)  # closed loop from the end of training
print(f"closed-loop NRMSE over 500 steps:     {nrmse(Y[2100:2600], generated):.2e}")

esn.save("/tmp/esn_mackey_glass.npz")
assert np.allclose(rr.ESN.load("/tmp/esn_mackey_glass.npz").generate(10), generated[:10])

try:
    import matplotlib.pyplot as plt
except ImportError:
    plt = None
if plt is not None:
    fig, ax = plt.subplots(2, 1, figsize=(10, 5), sharex=True)
    ax[0].plot(Y[2100:2600], label="truth")
    ax[0].plot(one_step[:500], "--", label="one-step")
    ax[1].plot(Y[2100:2600], label="truth")
    ax[1].plot(generated, "--", label="closed loop")
    for a in ax:
        a.legend(loc="upper right")
    fig.savefig("esn_mackey_glass.png", dpi=100)
    print("saved esn_mackey_glass.png")
