"""Next-generation reservoir computing (NVAR) forecasting Lorenz-63, Gauthier et al. (2021).

    python examples/nvar_lorenz.py [--quick]

The paper's protocol (Nature Communications 12:5564, Fig. 2 and Methods): Lorenz-63 sampled every
dt = 0.025, linear features of the current and the previous step (k = 2, s = 1), all unique
quadratic monomials of them and a constant (here the ridge intercept), ridge 2.5e-6; the readout
learns the increment x[t+1] - x[t] over 10 time units (400 steps) after 5 time units of warm-up,
then forecasts in closed loop. The error is the paper's: the RMS error over one Lyapunov time
(1 / 0.9056 time units = 45 steps) divided by the attractor's total standard deviation
``sqrt(var x + var y + var z)``. Repeated over ``--trials`` starting points along the attractor.
When ReservoirPy is importable, its ``NVAR >> Ridge`` runs on the same data in the same process.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import rnnrs as rr

DT, WARMUP, TRAIN, RIDGE = 0.025, 200, 400, 2.5e-6
LYAPUNOV_STEPS = round(1 / 0.9056 / DT)  # 44


def nrmse_one_lyapunov_time(forecast: np.ndarray, truth: np.ndarray, total_var: float) -> float:
    n = LYAPUNOV_STEPS
    return float(np.sqrt(np.mean(np.sum((forecast[:n] - truth[:n]) ** 2, axis=1)) / total_var))


def rnnrs_forecast(data: np.ndarray, start: int, steps: int) -> np.ndarray:
    """Fit on data[start : start + WARMUP + TRAIN] and forecast ``steps`` steps after it."""
    nvar = rr.NVAR(delay=2, order=2, strides=1)
    seg = data[start : start + WARMUP + TRAIN + 1]
    feats = nvar.run(seg[:-1])
    ridge = rr.Ridge(alpha=RIDGE).fit(feats[WARMUP:], seg[WARMUP + 1 :] - seg[WARMUP:-1])
    u, out = seg[-1], []
    for _ in range(steps):
        u = u + nvar.step(u) @ ridge.coef_ + ridge.intercept_
        out.append(u)
    return np.array(out)


def reservoirpy_forecast(data: np.ndarray, start: int, steps: int) -> np.ndarray:
    from reservoirpy.nodes import NVAR, Ridge

    nvar, readout = NVAR(delay=2, order=2, strides=1), Ridge(ridge=RIDGE)
    model = nvar >> readout
    seg = data[start : start + WARMUP + TRAIN + 1]
    model.fit(seg[:-1], seg[1:] - seg[:-1], warmup=WARMUP)
    u, out = seg[-1], []
    for _ in range(steps):
        u = u + np.asarray(model(u)).reshape(-1)
        out.append(u)
    return np.array(out)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="3 trials, no ReservoirPy")
    args = parser.parse_args(argv)
    trials = 3 if args.quick else args.trials
    span = WARMUP + TRAIN + 1 + LYAPUNOV_STEPS
    # The paper starts at (17.677, 12.931, 43.914), on the attractor; trials start 400 steps apart.
    data = rr.datasets.lorenz(span + 400 * trials, h=DT, x0=(17.67715816276679, 12.931379185960404, 43.91404334248268))
    total_var = float(np.sum(np.var(data, axis=0)))
    try:
        import reservoirpy  # noqa: F401
    except ImportError:
        reservoirpy = None
    errors: dict[str, list[float]] = {"rnnrs": [], "reservoirpy": []}
    times = {"rnnrs": 0.0, "reservoirpy": 0.0}
    for k in range(trials):
        start = 400 * k
        truth = data[start + WARMUP + TRAIN + 1 : start + span]
        t = time.perf_counter()
        errors["rnnrs"].append(nrmse_one_lyapunov_time(rnnrs_forecast(data, start, LYAPUNOV_STEPS), truth, total_var))
        times["rnnrs"] += time.perf_counter() - t
        if reservoirpy is not None and not args.quick:
            t = time.perf_counter()
            fc = reservoirpy_forecast(data, start, LYAPUNOV_STEPS)
            errors["reservoirpy"].append(nrmse_one_lyapunov_time(fc, truth, total_var))
            times["reservoirpy"] += time.perf_counter() - t
    print(f"NRMSE over one Lyapunov time ({LYAPUNOV_STEPS} steps), {trials} trials, mean ± std:")
    for name, errs in errors.items():
        if errs:
            print(f"  {name:12s} {np.mean(errs):.2e} ± {np.std(errs):.2e}   ({times[name]:.2f} s)")
    print("  (compare with the NRMSE Gauthier et al. 2021 give for this protocol in their Fig. 2 / Methods)")
    return {name: float(np.mean(errs)) for name, errs in errors.items() if errs}


if __name__ == "__main__":
    main()
