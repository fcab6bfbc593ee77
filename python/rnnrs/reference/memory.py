"""Reference math for the networks with memory: classical and modern Hopfield networks and the
Neural Turing Machine (forward and BPTT). Plain NumPy, one sequence at a time, written for reading.

NTM parameters are a dict with the names of `rnnrs.NTM.params`; the equations are those of
``src/memory/ntm/`` (Graves et al. 2014 addressing; reads before the write; erase then add). The
controller is ``"ff"`` (dense layers) or a recurrent cell of ``rnnrs.reference.layers`` by its mode name
(``"lstm"``, ``"gru"``, ``"rnn_tanh"``, ...).
"""

from __future__ import annotations

from typing import Dict, List, Tuple

import numpy as np

from rnnrs.reference.layers import LSTM_MODES, _cell_backward, _cell_forward

MASK64 = (1 << 64) - 1
COS_EPS = 1e-8
SHARPEN_EPS = 1e-12


# ---------------------------------------------------------------- classical Hopfield


def hebbian(weights: np.ndarray, patterns: np.ndarray) -> np.ndarray:
    """``W + (1/N) Σ ξ ξᵀ`` with a zero diagonal, rounded to float32 like the core."""
    n = weights.shape[0]
    xi = patterns.astype(np.float64)
    w = weights.astype(np.float64) + xi.T @ xi / n
    np.fill_diagonal(w, 0.0)
    return w.astype(np.float32)


def storkey(weights: np.ndarray, patterns: np.ndarray) -> np.ndarray:
    """Storkey (1997): ``W_ij += (ξ_i ξ_j - ξ_i h_ji - h_ij ξ_j)/N``, ``h_ij = Σ_{k≠i,j} W_ik ξ_k``,
    one pattern after another, float32 weights between patterns."""
    n = weights.shape[0]
    w = weights.astype(np.float32)
    for xi in patterns.astype(np.float64):
        w64 = w.astype(np.float64)
        diag = np.diag(w64)
        f = w64 @ xi  # Σ_k W_ik ξ_k
        h = f[:, None] - diag[:, None] * xi[:, None] - w64 * xi[None, :]  # h_ij
        new = w64 + (np.outer(xi, xi) - xi[:, None] * h.T - h * xi[None, :]) / n
        np.fill_diagonal(new, 0.0)
        w = new.astype(np.float32)
    return w


def energy(weights: np.ndarray, state: np.ndarray) -> float:
    s = state.astype(np.float64)
    return float(-0.5 * s @ weights.astype(np.float64) @ s)


def splitmix_shuffle(order: List[int], state: List[int]) -> None:
    """Fisher-Yates shuffle of `order` in place with SplitMix64 (state[0] is advanced)."""
    n = len(order)
    for i in range(n - 1, 0, -1):
        state[0] = (state[0] + 0x9E3779B97F4A7C15) & MASK64
        z = state[0]
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        z ^= z >> 31
        j = z % (i + 1)
        order[i], order[j] = order[j], order[i]


def _sign_or_keep(h: float, current: int) -> int:
    return 1 if h > 0 else (-1 if h < 0 else current)


def run(weights: np.ndarray, state: np.ndarray, mode: str, max_steps: int, seed: int) -> Tuple[np.ndarray, bool, int]:
    """Updates one state to a fixed point or `max_steps`; returns (state, converged, steps)."""
    w = weights.astype(np.float64)
    s = state.astype(np.int64).copy()
    rng = [seed & MASK64]
    order = list(range(len(s)))  # each sweep shuffles the previous sweep's order further
    for step in range(1, max_steps + 1):
        if mode == "sync":
            h = w @ s
            new = np.where(h > 0, 1, np.where(h < 0, -1, s))
            if np.array_equal(new, s):
                return s.astype(np.int8), True, step
            s = new
        else:
            changed = False
            splitmix_shuffle(order, rng)
            for i in order:
                v = _sign_or_keep(float(w[i] @ s), s[i])
                if v != s[i]:
                    s[i] = v
                    changed = True
            if not changed:
                return s.astype(np.int8), True, step
    return s.astype(np.int8), False, max_steps


# ---------------------------------------------------------------- modern Hopfield


def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def modern_forward(query: np.ndarray, patterns: np.ndarray, beta: float) -> np.ndarray:
    """``softmax(β ξ Xᵀ) X`` for queries ξ (B, d) and stored rows X (P, d)."""
    return softmax(beta * query @ patterns.T) @ patterns


def modern_backward(query, patterns, beta, dout):
    """(dquery, dpatterns, dbeta) of ``Σ dout ∘ modern_forward``."""
    s = query @ patterns.T
    a = softmax(beta * s)
    da = dout @ patterns.T
    ds = a * (da - (a * da).sum(axis=1, keepdims=True))
    return beta * ds @ patterns, a.T @ dout + beta * ds.T @ query, float((ds * s).sum())


# ---------------------------------------------------------------- Neural Turing Machine


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def softplus(x):
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def _split_heads(p: np.ndarray, m: int, s: int, reads: int, writes: int) -> List[dict]:
    """The activated parameters of every head from the raw head vector p."""
    heads, off = [], 0
    for h in range(reads + writes):
        q = p[off:]
        d = dict(
            raw=q,
            key=q[:m],
            beta=softplus(q[m]),
            gate=sigmoid(q[m + 1]),
            shift=softmax(q[m + 2 : m + 2 + s]),
            gamma=1.0 + softplus(q[m + 2 + s]),
            offset=off,
        )
        if h >= reads:
            d["erase"] = sigmoid(q[m + s + 3 : 2 * m + s + 3])
            d["add"] = np.tanh(q[2 * m + s + 3 : 3 * m + s + 3])
            off += 3 * m + s + 3
        else:
            off += m + s + 3
        heads.append(d)
    return heads


def address(head: dict, memory: np.ndarray, w_prev: np.ndarray, shift_range: int) -> dict:
    """Graves et al. (2014) addressing; returns every intermediate weighting."""
    k = head["key"]
    cos = memory @ k / (np.linalg.norm(k) * np.linalg.norm(memory, axis=1) + COS_EPS)  # K(k, M_i)
    wc = softmax(head["beta"] * cos)  # content
    wg = head["gate"] * wc + (1 - head["gate"]) * w_prev  # interpolation
    n = len(w_prev)
    # circular convolution: w̃_i = Σ_o s_o w_g[(i - o) mod N], o = k - shift_range
    wt = np.array(
        [sum(head["shift"][j] * wg[(i - (j - shift_range)) % n] for j in range(len(head["shift"]))) for i in range(n)]
    )
    w = softmax(head["gamma"] * np.log(wt + SHARPEN_EPS))  # sharpening w̃^γ / Σ w̃^γ
    return dict(cos=cos, wc=wc, wg=wg, wt=wt, w=w)


def ntm_sizes(params: Dict[str, np.ndarray], shift_range: int) -> dict:
    if "controller.0.weight" in params:  # feed-forward
        ctrl_in = params["controller.0.weight"].shape[1]
        layers = sum(1 for k in params if k.endswith(".weight") and k.startswith("controller."))
        h = params[f"controller.{layers - 1}.weight"].shape[0]
    else:
        ctrl_in = params["controller.weight_ih_l0"].shape[1]
        h = params["controller.weight_hh_l0"].shape[1]
        layers = 1
    r, m = params["read0"].shape
    s = 2 * shift_range + 1
    ph = params["heads.weight"].shape[0]
    writes = (ph - r * (m + s + 3)) // (3 * m + s + 3)
    return dict(hidden=h, reads=r, writes=writes, width=m, shifts=s, input=ctrl_in - r * m, layers=layers)


def _activate(name: str, z: np.ndarray) -> np.ndarray:
    return {"tanh": np.tanh, "sigmoid": sigmoid, "relu": lambda v: np.maximum(v, 0.0)}[name](z)


def _slope(name: str, a: np.ndarray) -> np.ndarray:
    """The activation's derivative, from its output ``a``."""
    return {"tanh": 1 - a**2, "sigmoid": a * (1 - a), "relu": (a > 0).astype(a.dtype)}[name]


def controller_forward(P, controller: str, activation: str, layers: int, u, h, c):
    """One controller step on ``u = [x_t, r_{t-1}]``; returns (h_t, c_t, cache).

    ``"ff"``: ``a_k = act(W_k a_{k-1} + b_k)``, ``a_{-1} = u``, ``h_t = a_{L-1}`` (no state);
    otherwise the cell of that mode (PyTorch's equations) on ``u`` and its state ``(h, c)``."""
    if controller == "ff":
        acts, a = [], u
        for k in range(layers):
            a = _activate(activation, P[f"controller.{k}.weight"] @ a + P[f"controller.{k}.bias"])
            acts.append(a)
        return a, None, acts
    w = {b: P[f"controller.{b}_l0"] for b in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
    h_new, c_new, cache = _cell_forward(controller.upper(), u[None], h[None], None if c is None else c[None], w)
    return h_new[0], None if c_new is None else c_new[0], cache


def controller_backward(P, G, controller: str, activation: str, layers: int, u, dh, dc, cache):
    """Backward of `controller_forward`: adds to the parameter gradients ``G``; returns (du, dh_prev, dc_prev)."""
    if controller == "ff":
        da = dh
        for k in range(layers - 1, -1, -1):
            dz = da * _slope(activation, cache[k])
            G[f"controller.{k}.weight"] += np.outer(dz, cache[k - 1] if k > 0 else u)
            G[f"controller.{k}.bias"] += dz
            da = P[f"controller.{k}.weight"].T @ dz
        return da, np.zeros_like(dh), None
    du, dh_prev, dc_prev, grads = _cell_backward(controller.upper(), dh[None], None if dc is None else dc[None], cache)
    for b, g in grads.items():
        G[f"controller.{b}_l0"] += g
    return du[0], dh_prev[0], None if dc_prev is None else dc_prev[0]


def ntm_forward(params: Dict[str, np.ndarray], x: np.ndarray, slots: int, shift_range: int, memory_init=1e-6,
                controller="lstm", activation="tanh"):
    """NTM over one sequence x (T, I); returns (y (T, O), tape). ``memory_init=None``: learned memory0."""
    z = ntm_sizes(params, shift_range)
    hid, r_n, w_n, m = z["hidden"], z["reads"], z["writes"], z["width"]
    P = {k: v.astype(np.float64) for k, v in params.items()}
    h = np.zeros(hid)
    c = np.zeros(hid) if controller.upper() in LSTM_MODES else None
    mem = np.full((slots, m), memory_init, dtype=np.float64) if memory_init is not None else P["memory0"].copy()
    w_prev = [np.eye(1, slots, 0)[0] for _ in range(r_n + w_n)]
    reads = P["read0"].reshape(-1).copy()
    tape, ys = [], []
    for xt in x.astype(np.float64):
        u = np.concatenate([xt, reads])
        h_new, c_new, ctrl = controller_forward(P, controller, activation, z["layers"], u, h, c)
        p = P["heads.weight"] @ h_new + P["heads.bias"]
        heads = _split_heads(p, m, z["shifts"], r_n, w_n)
        addr = [address(hd, mem, wp, shift_range) for hd, wp in zip(heads, w_prev)]
        w = [a["w"] for a in addr]
        new_reads = np.concatenate([w[k] @ mem for k in range(r_n)]) if r_n else np.zeros(0)
        mem_new = mem.copy()
        for k in range(r_n, r_n + w_n):  # erase ...
            mem_new = mem_new * (1 - np.outer(w[k], heads[k]["erase"]))
        for k in range(r_n, r_n + w_n):  # ... then add
            mem_new = mem_new + np.outer(w[k], heads[k]["add"])
        y = P["output.weight"] @ np.concatenate([h_new, new_reads]) + P["output.bias"]
        tape.append(
            dict(u=u, ctrl=ctrl, h=h_new, p=p, heads=heads, addr=addr,
                 mem_prev=mem, w_prev=w_prev, reads=new_reads)
        )
        ys.append(y)
        h, c, mem, w_prev, reads = h_new, c_new, mem_new, w, new_reads
    return np.array(ys), tape


def _softmax_back(y, dy):
    return y * (dy - (y * dy).sum())


def ntm_backward(params, x, dy, slots, shift_range, memory_init=1e-6, controller="lstm", activation="tanh"):
    """BPTT of ``Σ dy ∘ y`` for one sequence: returns (dx (T, I), grads dict)."""
    z = ntm_sizes(params, shift_range)
    hid, r_n, w_n, m, s_n = z["hidden"], z["reads"], z["writes"], z["width"], z["shifts"]
    n_in = z["input"]
    _, tape = ntm_forward(params, x, slots, shift_range, memory_init, controller, activation)
    P = {k: v.astype(np.float64) for k, v in params.items()}
    G = {k: np.zeros_like(v) for k, v in P.items()}
    dx = np.zeros((len(tape), n_in))
    dh = np.zeros(hid)
    dc = np.zeros(hid) if controller.upper() in LSTM_MODES else None
    dmem = np.zeros((slots, m))
    dw = [np.zeros(slots) for _ in range(r_n + w_n)]
    dr = np.zeros(r_n * m)
    for t in range(len(tape) - 1, -1, -1):
        st = tape[t]
        # output y = W_out [h, r] + b
        hr = np.concatenate([st["h"], st["reads"]])
        G["output.weight"] += np.outer(dy[t], hr)
        G["output.bias"] += dy[t]
        dhr = P["output.weight"].T @ dy[t]
        dh = dh + dhr[:hid]
        dr = dr + dhr[hid:]
        mem_prev, heads, addr = st["mem_prev"], st["heads"], st["addr"]
        w = [a["w"] for a in addr]
        dwh = [d.copy() for d in dw]
        # write: M_t = M_{t-1} ∘ Π(1 - w e^T) + Σ w a^T
        factors = [1 - np.outer(w[k], heads[k]["erase"]) for k in range(r_n, r_n + w_n)]
        e_full = np.prod(factors, axis=0) if factors else np.ones_like(mem_prev)
        dmem_prev = dmem * e_full
        d_e = dmem * mem_prev
        de, da = {}, {}
        for q, k in enumerate(range(r_n, r_n + w_n)):
            others = np.prod([f for j, f in enumerate(factors) if j != q], axis=0) if w_n > 1 else 1.0
            dfac = d_e * others  # d(1 - w e^T)
            dwh[k] = dwh[k] - dfac @ heads[k]["erase"] + dmem @ heads[k]["add"]
            de[k] = -(w[k] @ dfac)
            da[k] = w[k] @ dmem
        # reads r_k = w_k^T M_{t-1}
        for k in range(r_n):
            drk = dr[k * m : (k + 1) * m]
            dwh[k] = dwh[k] + mem_prev @ drk
            dmem_prev = dmem_prev + np.outer(w[k], drk)
        dp = np.zeros_like(st["p"])
        new_dw = []
        for k, (hd, ad) in enumerate(zip(heads, addr)):
            off = hd["offset"]
            # sharpening
            dz = _softmax_back(ad["w"], dwh[k])
            lw = np.log(ad["wt"] + SHARPEN_EPS)
            dgamma = (dz * lw).sum()
            dwt = dz * hd["gamma"] / (ad["wt"] + SHARPEN_EPS)
            # shift
            dwg, ds = np.zeros(slots), np.zeros(s_n)
            for i in range(slots):
                for j in range(s_n):
                    src = (i - (j - shift_range)) % slots
                    ds[j] += dwt[i] * ad["wg"][src]
                    dwg[src] += hd["shift"][j] * dwt[i]
            # interpolation
            dgate = (dwg * (ad["wc"] - st["w_prev"][k])).sum()
            new_dw.append((1 - hd["gate"]) * dwg)
            dwc = hd["gate"] * dwg
            # content: w_c = softmax(β K)
            dzc = _softmax_back(ad["wc"], dwc)
            dbeta = (dzc * ad["cos"]).sum()
            dK = hd["beta"] * dzc
            key = hd["key"]
            kn = np.linalg.norm(key)
            mn = np.linalg.norm(mem_prev, axis=1)
            den = kn * mn + COS_EPS
            num = mem_prev @ key
            coef = num / den**2
            dkey = (dK / den) @ mem_prev - (dK * coef * mn).sum() * key / kn
            dmem_prev = dmem_prev + np.outer(dK / den, key) - (dK * coef * kn / mn)[:, None] * mem_prev
            raw = hd["raw"]
            dp[off : off + m] = dkey
            dp[off + m] = dbeta * sigmoid(raw[m])
            dp[off + m + 1] = dgate * hd["gate"] * (1 - hd["gate"])
            dp[off + m + 2 : off + m + 2 + s_n] = _softmax_back(hd["shift"], ds)
            dp[off + m + 2 + s_n] = dgamma * sigmoid(raw[m + 2 + s_n])
            if k >= r_n:
                e0 = off + m + s_n + 3
                dp[e0 : e0 + m] = de[k] * hd["erase"] * (1 - hd["erase"])
                dp[e0 + m : e0 + 2 * m] = da[k] * (1 - hd["add"] ** 2)
        G["heads.weight"] += np.outer(dp, st["h"])
        G["heads.bias"] += dp
        dh = dh + P["heads.weight"].T @ dp
        du, dh, dc = controller_backward(P, G, controller, activation, z["layers"], st["u"], dh, dc, st["ctrl"])
        dx[t] = du[:n_in]
        dr = du[n_in:]
        dmem, dw = dmem_prev, new_dw
    G["read0"] += dr.reshape(r_n, m)
    if memory_init is None:
        G["memory0"] += dmem
    return dx, G
