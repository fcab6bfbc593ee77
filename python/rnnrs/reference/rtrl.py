"""Readable NumPy RTRL: the ground truth for `rnnrs.rtrl`.

A cell maps (x_t, s_{t-1}; theta) -> s_t. Real-time recurrent learning carries
the sensitivities M_t = ds_t/dtheta forward:

    M_t = J_t M_{t-1} + F_t,   J_t = ds_t/ds_{t-1},   F_t = immediate ds_t/dtheta

and the gradient of a loss at step t is dL_t/dh_t . M_t. Here everything is
dense and per sequence, for reading, not speed.

Cells use PyTorch's names and layouts (single layer): ``weight_ih_l0 (G*H, I)``,
``weight_hh_l0 (G*H, H)``, ``bias_ih_l0``, ``bias_hh_l0``; the flat parameter
vector theta is their concatenation in that order. The state s is h, or
(h, c) stacked for the LSTM. Modes: "RNN_TANH", "RNN_RELU", "LSTM", "GRU".
"""

from __future__ import annotations

import numpy as np

from rnnrs._gates import GATES

PARAM_NAMES = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")


def flatten_params(params: dict) -> np.ndarray:
    """theta: the four PyTorch parameters concatenated (row-major)."""
    return np.concatenate([np.asarray(params[k]).ravel() for k in PARAM_NAMES])


def unflatten_params(theta: np.ndarray, mode: str, input_size: int, hidden_size: int) -> dict:
    """The inverse of `flatten_params`."""
    rows = GATES[mode] * hidden_size
    shapes = [(rows, input_size), (rows, hidden_size), (rows,), (rows,)]
    out, pos = {}, 0
    for name, shp in zip(PARAM_NAMES, shapes):
        n = int(np.prod(shp))
        out[name] = theta[pos : pos + n].reshape(shp)
        pos += n
    return out


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def cell_partials(mode: str, x, s, params: dict):
    """One step of one sequence with its local derivatives.

    With pre-activations A = W_ih x + b_ih and B = W_hh h + b_hh, returns
    (s_new, dS_dA, dS_dB, dS_ds): the new state (n,), its partials with
    respect to A and B (n, G*H) and its direct partial with respect to the
    old state (n, n) (the dependence through B is not included).
    """
    w_ih, w_hh = params["weight_ih_l0"], params["weight_hh_l0"]
    hidden = w_hh.shape[1]
    h = s[:hidden]
    a = w_ih @ x + params["bias_ih_l0"]
    b = w_hh @ h + params["bias_hh_l0"]
    eye = np.eye(hidden)
    if mode in ("RNN_TANH", "RNN_RELU"):
        z = a + b
        if mode == "RNN_TANH":
            h_new = np.tanh(z)
            d = 1.0 - h_new**2
        else:
            h_new = np.maximum(z, 0.0)
            d = (z > 0).astype(z.dtype)
        return h_new, np.diag(d), np.diag(d), np.zeros((hidden, hidden))
    if mode == "LSTM":
        c = s[hidden:]
        z = a + b
        zi, zf, zg, zo = np.split(z, 4)
        i, f, g, o = _sigmoid(zi), _sigmoid(zf), np.tanh(zg), _sigmoid(zo)
        c_new = f * c + i * g
        tc = np.tanh(c_new)
        h_new = o * tc
        # dc'/dz per gate block, and dh'/dz = o (1 - tanh^2 c') dc'/dz (+ the o gate).
        dc_dz = np.concatenate([np.diag(i * (1 - i) * g), np.diag(f * (1 - f) * c), np.diag(i * (1 - g**2)), 0 * eye], axis=1)
        dh_dc = o * (1 - tc**2)
        dh_dz = dh_dc[:, None] * dc_dz
        dh_dz[:, 3 * hidden :] = np.diag(o * (1 - o) * tc)
        ds_dz = np.concatenate([dh_dz, dc_dz], axis=0)
        ds_ds = np.zeros((2 * hidden, 2 * hidden))
        ds_ds[:hidden, hidden:] = np.diag(dh_dc * f)
        ds_ds[hidden:, hidden:] = np.diag(f)
        return np.concatenate([h_new, c_new]), ds_dz, ds_dz, ds_ds
    if mode == "GRU":
        ar, az, an = np.split(a, 3)
        br, bz, bn = np.split(b, 3)
        r, z = _sigmoid(ar + br), _sigmoid(az + bz)
        n = np.tanh(an + r * bn)
        h_new = (1 - z) * n + z * h
        dh_dn = (1 - z) * (1 - n**2)  # through n's pre-activation
        dh_dr = dh_dn * bn * r * (1 - r)  # through r's pre-activation
        dh_dzg = (h - n) * z * (1 - z)  # through z's pre-activation
        ds_da = np.concatenate([np.diag(dh_dr), np.diag(dh_dzg), np.diag(dh_dn)], axis=1)
        ds_db = np.concatenate([np.diag(dh_dr), np.diag(dh_dzg), np.diag(dh_dn * r)], axis=1)
        return h_new, ds_da, ds_db, np.diag(z)
    raise ValueError(f"mode: expected 'RNN_TANH', 'RNN_RELU', 'LSTM' or 'GRU', got {mode!r}")


def step_jacobians(mode: str, x, s, params: dict):
    """(s_new, J, F): the full state Jacobian J (n, n) and the dense immediate
    Jacobian F (n, P) of one step of one sequence."""
    w_hh = params["weight_hh_l0"]
    rows, hidden = w_hh.shape
    s_new, ds_da, ds_db, ds_ds = cell_partials(mode, x, s, params)
    n = s.shape[0]
    # J: direct dependence plus the path through B = W_hh h + b_hh.
    dB_ds = np.zeros((rows, n))
    dB_ds[:, :hidden] = w_hh
    jac = ds_ds + ds_db @ dB_ds
    # dA/dtheta and dB/dtheta: Kronecker products with the inputs.
    eye = np.eye(rows)
    h = s[:hidden]
    d_a = np.concatenate([np.kron(eye, x[None, :]), np.zeros((rows, rows * hidden)), eye, np.zeros((rows, rows))], axis=1)
    d_b = np.concatenate([np.zeros((rows, rows * x.shape[0])), np.kron(eye, h[None, :]), np.zeros((rows, rows)), eye], axis=1)
    return s_new, jac, ds_da @ d_a + ds_db @ d_b


def _initial_state(h0, c0, batch, hidden, mode, dtype):
    h = np.zeros((batch, hidden), dtype) if h0 is None else np.array(h0, dtype)
    if mode != "LSTM":
        return h
    c = np.zeros((batch, hidden), dtype) if c0 is None else np.asarray(c0, dtype)
    return np.concatenate([h, c], axis=1)


def snap1_mask(mode: str, input_size: int, hidden_size: int) -> np.ndarray:
    """(n, P) boolean: entry (state unit, parameter) is kept by SnAp-1 when the
    parameter feeds that unit directly (the pattern of the immediate Jacobian)."""
    rows = GATES[mode] * hidden_size
    comps = 2 if mode == "LSTM" else 1
    unit_of_row = np.arange(rows) % hidden_size
    unit = np.concatenate(
        [np.repeat(unit_of_row, input_size), np.repeat(unit_of_row, hidden_size), unit_of_row, unit_of_row]
    )
    state_unit = np.tile(np.arange(hidden_size), comps)
    return state_unit[:, None] == unit[None, :]


def rtrl_gradient(mode: str, x, dloss_dh, params: dict, h0=None, c0=None, method: str = "exact", rng=None):
    """RTRL over a sequence x (T, B, I) with loss gradients dloss_dh (T, B, H).

    method: "exact" (M = J M + F), "snap1" (the same, masked to the SnAp-1
    pattern after every step) or "uoro" (rank-one estimate; `rng` is a
    ``np.random.Generator`` drawing the +-1 signs). Returns (grad (P,), y (T, B, H)).
    """
    x = np.asarray(x)
    steps, batch, input_size = x.shape
    hidden = params["weight_hh_l0"].shape[1]
    s = _initial_state(h0, c0, batch, hidden, mode, x.dtype)
    n = s.shape[1]
    theta = flatten_params(params)
    p = theta.size
    grad = np.zeros(p)
    y = np.zeros((steps, batch, hidden))
    mask = snap1_mask(mode, input_size, hidden)
    if method in ("exact", "snap1"):
        m = np.zeros((batch, n, p))
    elif method == "uoro":
        rng = np.random.default_rng(0) if rng is None else rng
        s_tilde, th_tilde = np.zeros((batch, n)), np.zeros((batch, p))
    else:
        raise ValueError(f"method: expected 'exact', 'snap1' or 'uoro', got {method!r}")
    eps = 1e-7
    for t in range(steps):
        for b in range(batch):
            s_new, jac, imm = step_jacobians(mode, x[t, b], s[b], params)
            if method == "exact":
                m[b] = jac @ m[b] + imm
            elif method == "snap1":
                m[b] = np.where(mask, jac @ m[b] + imm, 0.0)
            else:
                nu = rng.choice([-1.0, 1.0], size=n)
                js = jac @ s_tilde[b]
                nu_f = nu @ imm
                rho0 = np.sqrt((np.linalg.norm(th_tilde[b]) + eps) / (np.linalg.norm(js) + eps))
                rho1 = np.sqrt((np.linalg.norm(nu_f) + eps) / (np.linalg.norm(nu) + eps))
                s_tilde[b] = rho0 * js + rho1 * nu
                th_tilde[b] = th_tilde[b] / rho0 + nu_f / rho1
            s[b] = s_new
            y[t, b] = s_new[:hidden]
            if method == "uoro":
                grad += (dloss_dh[t, b] @ s_tilde[b, :hidden]) * th_tilde[b]
            else:
                grad += dloss_dh[t, b] @ m[b, :hidden]
    return grad, y


# --- element-wise cells: IndRNN and the diagonal linear unit -------------------
# Parameters (flat): [weight_ih (H, I), rho (H), bias (H)]; the unit map is
# h' = phi(z, rho, h) with the input drive z = W x + b.


def elem_unit(cell: str, z, rho, h):
    """(h', dh'/dz, dh'/drho, dh'/dh) for "indrnn_tanh", "indrnn_relu" or "diag"."""
    if cell == "diag":
        a = _sigmoid(rho)
        return a * h + z, np.ones_like(z), a * (1 - a) * h, a * np.ones_like(h)
    pre = z + rho * h
    if cell == "indrnn_tanh":
        out = np.tanh(pre)
        d = 1 - out**2
    elif cell == "indrnn_relu":
        out = np.maximum(pre, 0.0)
        d = (pre > 0).astype(pre.dtype)
    else:
        raise ValueError(f"cell: unknown element-wise cell {cell!r}")
    return out, d, d * h, d * rho


def _elem_split(theta, input_size, hidden):
    w = theta[: hidden * input_size].reshape(hidden, input_size)
    rho = theta[hidden * input_size : hidden * (input_size + 1)]
    bias = theta[hidden * (input_size + 1) :]
    return w, rho, bias


def elem_forward(cell: str, theta, x, h0=None):
    """y (T, B, H) of an element-wise cell over x (T, B, I)."""
    steps, batch, input_size = x.shape
    hidden = theta.size // (input_size + 2)
    w, rho, bias = _elem_split(theta, input_size, hidden)
    h = np.zeros((batch, hidden)) if h0 is None else np.array(h0, dtype=float)
    y = np.zeros((steps, batch, hidden))
    for t in range(steps):
        h = elem_unit(cell, x[t] @ w.T + bias, rho, h)[0]
        y[t] = h
    return y


def elem_bptt(cell: str, theta, x, dy, h0=None, dh_n=None):
    """BPTT of an element-wise cell: (dx, dh0, grad)."""
    steps, batch, input_size = x.shape
    hidden = theta.size // (input_size + 2)
    w, rho, bias = _elem_split(theta, input_size, hidden)
    y = elem_forward(cell, theta, x, h0)
    hs = np.concatenate([np.zeros((1, batch, hidden)) if h0 is None else np.asarray(h0)[None], y])
    gw, grho, gb = np.zeros_like(w), np.zeros_like(rho), np.zeros_like(bias)
    dx = np.zeros_like(x, dtype=float)
    carry = np.zeros((batch, hidden)) if dh_n is None else np.array(dh_n, dtype=float)
    for t in reversed(range(steps)):
        _, dz, drho, dh = elem_unit(cell, x[t] @ w.T + bias, rho, hs[t])
        g = dy[t] + carry
        gz = g * dz
        gw += gz.T @ x[t]
        gb += gz.sum(0)
        grho += (g * drho).sum(0)
        dx[t] = gz @ w
        carry = g * dh
    return dx, carry, np.concatenate([gw.ravel(), grho, gb])


def elem_rtrl(cell: str, theta, x, dloss_dh, h0=None):
    """Exact O(P) RTRL of an element-wise cell: (grad, y). Each parameter's
    sensitivity lives on its own unit: m <- dh'/dh * m + immediate."""
    steps, batch, input_size = x.shape
    hidden = theta.size // (input_size + 2)
    w, rho, bias = _elem_split(theta, input_size, hidden)
    h = np.zeros((batch, hidden)) if h0 is None else np.array(h0, dtype=float)
    mw, mrho, mb = np.zeros((batch, hidden, input_size)), np.zeros((batch, hidden)), np.zeros((batch, hidden))
    gw, grho, gb = np.zeros_like(w), np.zeros_like(rho), np.zeros_like(bias)
    y = np.zeros((steps, batch, hidden))
    for t in range(steps):
        h, dz, drho, dh = elem_unit(cell, x[t] @ w.T + bias, rho, h)
        mw = dh[:, :, None] * mw + dz[:, :, None] * x[t][:, None, :]
        mrho = dh * mrho + drho
        mb = dh * mb + dz
        d = dloss_dh[t]
        gw += (d[:, :, None] * mw).sum(0)
        grho += (d * mrho).sum(0)
        gb += (d * mb).sum(0)
        y[t] = h
    return np.concatenate([gw.ravel(), grho, gb]), y


# --- cells with a dense state Jacobian: clockwork, Jordan, LayerNorm LSTM/GRU, deep transition ----
#
# For these, `dense_rtrl` runs the recursion with J_t and F_t taken by complex-step
# differentiation of a plain step function (f(z + i*eps) = f(z) + i*eps*f'(z) + O(eps^2): the
# imaginary part is the derivative to machine precision, with no cancellation). Exact RTRL keeps
# all of M_t; SnAp-1 keeps, for each parameter, only its entries on the state it feeds directly
# (`owners`): M_t = mask * (J_t M_{t-1} + F_t). The steps are batched, ``s' = step(p, x_t, s, t)``
# with x_t (B, I), s (B, S), and must accept complex arrays.

_EPS_CS = 1e-30


def dense_rtrl(step, params: dict, x, dloss, s0, out: int, method: str = "exact", owners=None, exists=None):
    """RTRL over a sequence for a batched step function: returns (grads by name, outputs (T, B, out)).

    params: name -> array; x (T, B, I); dloss (T, B, out), the loss gradient w.r.t. the first `out`
    state entries; s0 (B, S). ``owners(name, index)`` gives the state entries SnAp-1 keeps for a
    parameter entry; ``exists(name, index)`` (default: all) leaves out entries that are not parameters
    (their gradient is 0).
    """
    entries = [(k, idx) for k, v in params.items() for idx in np.ndindex(v.shape)
               if exists is None or exists(k, idx)]
    steps, batch, _ = x.shape
    n_state = s0.shape[1]
    mask = np.ones((n_state, len(entries)), dtype=bool)
    if method == "snap1":
        mask[:] = False
        for p, (k, idx) in enumerate(entries):
            mask[owners(k, idx), p] = True
    elif method != "exact":
        raise ValueError(f"method: expected 'exact' or 'snap1', got {method!r}")
    m = np.zeros((batch, n_state, len(entries)))
    g = np.zeros(len(entries))
    s = np.array(s0, dtype=float)
    ys = []
    for t in range(steps):
        jac = np.zeros((batch, n_state, n_state))
        for j in range(n_state):
            sp = s.astype(complex)
            sp[:, j] += 1j * _EPS_CS
            jac[:, :, j] = step(params, x[t], sp, t).imag / _EPS_CS
        imm = np.zeros((batch, n_state, len(entries)))
        for p, (k, idx) in enumerate(entries):
            pp = {n: v.astype(complex) for n, v in params.items()}
            pp[k][idx] += 1j * _EPS_CS
            imm[:, :, p] = step(pp, x[t], s, t).imag / _EPS_CS
        m = mask * (jac @ m + imm)
        s = step(params, x[t], s, t).real
        g += np.einsum("bi,bip->p", dloss[t], m[:, :out])
        ys.append(s[:, :out])
    grads = {k: np.zeros(v.shape) for k, v in params.items()}
    for p, (k, idx) in enumerate(entries):
        grads[k][idx] = g[p]
    return grads, np.stack(ys)


def _layernorm(v, gain, bias, eps=1e-5):
    mean = v.mean(-1, keepdims=True)
    var = ((v - mean) ** 2).mean(-1, keepdims=True)
    return gain * (v - mean) / np.sqrt(var + eps) + bias


def clockwork_step(module_sizes, periods):
    """The clockwork RNN's step: updating modules are Elman rows, the others copy their state."""
    from rnnrs.reference.cells_time import clockwork_active

    def step(p, x, s, t):
        pre = x @ p["weight_ih_l0"].T + s @ p["weight_hh_l0"].T
        if "bias_ih_l0" in p:
            pre = pre + p["bias_ih_l0"] + p["bias_hh_l0"]
        return np.where(clockwork_active(module_sizes, periods, t), np.tanh(pre), s)

    return step


def clockwork_owners(name, idx):
    """A parameter row k feeds unit k."""
    return [idx[0]]


_ACT = {"tanh": np.tanh, "sigmoid": _sigmoid, "identity": lambda v: v}


def jordan_step(act_h: str, act_y: str):
    """One Jordan layer; the state is y: h = act_h(W_ih x + b_h + W_hy y), y' = act_y(W_yh h + b_y)."""

    def step(p, x, y, t):
        h = _ACT[act_h](x @ p["weight_ih_l0"].T + p["bias_h_l0"] + y @ p["weight_hy_l0"].T)
        return _ACT[act_y](h @ p["weight_yh_l0"].T + p["bias_y_l0"])

    return step


def jordan_owners(output_size: int):
    """An output row o feeds y_o; a hidden row feeds every y (through W_yh)."""

    def owners(name, idx):
        return [idx[0]] if name in ("weight_yh_l0", "bias_y_l0") else list(range(output_size))

    return owners


def layernorm_lstm_step(hidden: int):
    """custom_lstms.py's LayerNormLSTM; the state is [h, c]."""

    def step(p, x, s, t):
        h, c = s[:, :hidden], s[:, hidden:]
        z = (_layernorm(x @ p["weight_ih_l0"].T, p["layernorm_i_weight_l0"].ravel(), p["layernorm_i_bias_l0"].ravel())
             + _layernorm(h @ p["weight_hh_l0"].T, p["layernorm_h_weight_l0"].ravel(),
                          p["layernorm_h_bias_l0"].ravel()))
        i, f, g, o = (z[:, k * hidden:(k + 1) * hidden] for k in range(4))
        c2 = _layernorm(_sigmoid(f) * c + _sigmoid(i) * np.tanh(g), p["layernorm_c_weight_l0"],
                        p["layernorm_c_bias_l0"])
        return np.concatenate([_sigmoid(o) * np.tanh(c2), c2], axis=1)

    return step


def layernorm_gru_step(hidden: int):
    """The LayerNorm GRU: a = LN_i(W_ih x), b = LN_h(W_hh h), gates r, z, n as torch's GRU."""

    def step(p, x, h, t):
        a = _layernorm(x @ p["weight_ih_l0"].T, p["layernorm_i_weight_l0"].ravel(), p["layernorm_i_bias_l0"].ravel())
        b = _layernorm(h @ p["weight_hh_l0"].T, p["layernorm_h_weight_l0"].ravel(), p["layernorm_h_bias_l0"].ravel())
        sl = [slice(k * hidden, (k + 1) * hidden) for k in range(3)]
        r, z = _sigmoid(a[:, sl[0]] + b[:, sl[0]]), _sigmoid(a[:, sl[1]] + b[:, sl[1]])
        n = np.tanh(a[:, sl[2]] + r * b[:, sl[2]])
        return (1 - z) * n + z * h

    return step


def unit_owners(hidden: int, comps: int = 1):
    """A parameter entry of unit k (row k of a gate block, or column k of a (G, H) gain) feeds
    the unit's state entries k, H + k, ... (`comps` of them)."""

    def owners(name, idx):
        k = idx[-1] if name.startswith("layernorm_") else idx[0] % hidden
        return [k + c * hidden for c in range(comps)]

    return owners


def deep_transition_step(hidden: int, depth: int, output_depth: int, shortcut: bool):
    """DT(S)-RNN / DOT-RNN; the state is h, or [y, h] with an output MLP (the loss sees y)."""

    def bias(p, name):
        return p.get(name, 0.0)

    def step(p, x, s, t):
        h = s[:, hidden:] if output_depth else s
        z = np.tanh(x @ p["weight_ih_l0"].T + bias(p, "bias_ih_l0") + bias(p, "bias_hh_l0") + h @ p["weight_hh_l0"].T)
        for layer in range(2, depth + 1):
            a = z @ p[f"weight_tr{layer}_l0"].T + bias(p, f"bias_tr{layer}_l0")
            if layer == depth and shortcut:
                a = a + h @ p["weight_sh_l0"].T
            z = np.tanh(a)
        if not output_depth:
            return z
        o = z
        for k in range(1, output_depth + 1):
            o = np.tanh(o @ p[f"weight_out{k}_l0"].T + bias(p, f"bias_out{k}_l0"))
        return np.concatenate([o, z], axis=1)

    return step
