"""Liquid state machine simulation speed: rnnrs (`rnnrs.LSM`, Rust, event-driven) vs Brian2.

The same 1 000-neuron liquid (10x10x10 grid, 80/20 excitatory/inhibitory, Maass et al. 2002
connectivity, LIF with exponential synaptic currents, dt = 1 ms) driven by 4 input spike channels
(Poisson, 20 % per step). rnnrs's simulated steps per second beside Brian2's with its 'numpy' code
generation target (when ``import brian2`` works: install it in a throwaway venv, it is not a
dependency). The issue's target is >= 10x Brian2's steps/s.

    python benches/bench_lsm.py
    python benches/bench_lsm.py --steps 5000 --batch 8     # 8 sequences in parallel
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import rnnrs


def brian2_steps_per_second(lsm, u, dt_ms):
    import brian2 as b2

    b2.prefs.codegen.target = "numpy"
    b2.start_scope()
    n = lsm.units
    tau_m, (tau_e, tau_i) = lsm.tau_m * b2.ms, (lsm.tau_syn[0] * b2.ms, lsm.tau_syn[1] * b2.ms)
    eqs = """
    dv/dt = (-v + Ie + Ii + Ib) / tau_m : 1 (unless refractory)
    dIe/dt = -Ie / tau_e : 1
    dIi/dt = -Ii / tau_i : 1
    Ib : 1
    ref : second
    """
    G = b2.NeuronGroup(n, eqs, threshold=f"v >= {lsm.v_thresh}", reset=f"v = {lsm.v_reset}",
                       refractory="ref", method="exact", dt=dt_ms * b2.ms,
                       namespace={"tau_m": tau_m, "tau_e": tau_e, "tau_i": tau_i})
    G.v = lsm.v0_
    G.Ib = lsm.bias_
    G.ref = lsm.refractory_steps_ * dt_ms * b2.ms
    ptr, col, val = lsm.synapses_
    pre = np.repeat(np.arange(n), np.diff(ptr))
    exc = lsm.excitatory_[pre]
    S_e = b2.Synapses(G, G, "w : 1", on_pre="Ie_post += w", dt=dt_ms * b2.ms)
    S_e.connect(i=pre[exc], j=col[exc])
    S_e.w = val[exc]
    S_i = b2.Synapses(G, G, "w : 1", on_pre="Ii_post += w", dt=dt_ms * b2.ms)
    S_i.connect(i=pre[~exc], j=col[~exc])
    S_i.w = val[~exc]
    steps = len(u)
    idx, times = np.nonzero(u.T)
    inp = b2.SpikeGeneratorGroup(u.shape[1], idx, times * dt_ms * b2.ms, dt=dt_ms * b2.ms)
    iptr, icol, ival = lsm._input_synapses(u.shape[1])
    S_in = b2.Synapses(inp, G, "w : 1", on_pre="Ie_post += w", dt=dt_ms * b2.ms)
    S_in.connect(i=np.repeat(np.arange(u.shape[1]), np.diff(iptr)), j=icol)
    S_in.w = ival
    net = b2.Network(G, S_e, S_i, inp, S_in)
    net.run(10 * dt_ms * b2.ms)  # build and warm up
    t = time.perf_counter()
    net.run((steps - 10) * dt_ms * b2.ms)
    return (steps - 10) / (time.perf_counter() - t)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=1, help="independent sequences run in parallel by rnnrs")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args(argv)
    if args.threads:
        rnnrs.set_num_threads(args.threads)
    lsm = rnnrs.LSM(shape=(10, 10, 10), input_mode="spikes", input_scaling=10.0, features="counts", window=100,
                    seed=0)
    rng = np.random.default_rng(0)
    u = (rng.random((args.steps, 4)) < 0.2).astype(np.float64)
    n_syn = len(lsm.synapses_[1])
    print(f"LSM: {lsm.units} LIF neurons, {n_syn} synapses, dt = {lsm.dt} ms, {args.steps} steps, "
          f"{rnnrs.get_num_threads()} threads")
    lsm.transform(u[:100])  # warm-up
    t = time.perf_counter()
    lsm.transform([u] * args.batch)
    sec = time.perf_counter() - t
    rate = lsm.last_spike_count_ / (lsm.units * args.steps * args.batch * lsm.dt * 1e-3)
    sps = args.steps * args.batch / sec
    print(f"rnnrs  : {sps:>12,.0f} steps/s ({args.batch} sequence(s); mean rate {rate:.1f} Hz)")
    try:
        import brian2  # noqa: F401
    except ImportError:
        print("brian2 : not installed (pip install brian2 in a throwaway venv to compare)")
        return
    b2 = brian2_steps_per_second(lsm, u, lsm.dt)
    print(f"brian2 : {b2:>12,.0f} steps/s (numpy target)")
    print(f"rnnrs / brian2 steps/s: {sps / b2:.1f}x (target >= 10x)")


if __name__ == "__main__":
    main()
