"""ConvLSTM forward + backward: rnnrs (`rnnrs.conv.ConvLSTM`) vs a PyTorch ConvLSTM built from nn.Conv2d.

Shape (the issue's): T=10, B=8, C=16 input and hidden channels, 32x32 frames, 3x3 kernels, one layer,
float32, a loss on every step's output. Same weights, same data, same thread count. The issue's target
is rnnrs time <= 0.7x torch's. Torch's input needs no gradient, so it skips dx; the ratio compares
rnnrs with ``backward(..., input_grad=False)`` (the same work), and rnnrs with dx is printed too.
GFLOP/s count the convolution products only (2 multiply-add flops each).

    python benches/bench_convlstm.py
    python benches/bench_convlstm.py --threads 2 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import rnnrs
from rnnrs.conv import ConvLSTM


def timed(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def torch_step_fn(net, x, dy, threads):
    import torch

    torch.set_num_threads(threads)
    ch = net.hidden_channels
    k = net.kernel_size[0]
    conv_x = torch.nn.Conv2d(net.in_channels, 4 * ch, k, padding=k // 2)
    conv_h = torch.nn.Conv2d(ch, 4 * ch, k, padding=k // 2, bias=False)
    with torch.no_grad():
        conv_x.weight.copy_(torch.from_numpy(net.params["weight_ih_l0"]))
        conv_x.bias.copy_(torch.from_numpy(net.params["bias_l0"]))
        conv_h.weight.copy_(torch.from_numpy(net.params["weight_hh_l0"]))
    xt, dyt = torch.from_numpy(x), torch.from_numpy(dy)

    def step():
        conv_x.zero_grad()
        conv_h.zero_grad()
        T, B, _, H, W = xt.shape
        h = torch.zeros(B, ch, H, W)
        c = torch.zeros(B, ch, H, W)
        ax = conv_x(xt.reshape(T * B, -1, H, W)).reshape(T, B, 4 * ch, H, W)
        outs = []
        for t in range(T):
            a = ax[t] + conv_h(h)
            i, f, g, o = a.chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outs.append(h)
        (torch.stack(outs) * dyt).sum().backward()

    return step


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    if args.threads:
        rnnrs.set_num_threads(args.threads)
    threads = rnnrs.get_num_threads()
    rng = np.random.default_rng(0)
    shape = (args.steps, args.batch, args.channels, args.size, args.size)
    x = rng.normal(size=shape).astype(np.float32)
    dy = rng.normal(size=shape).astype(np.float32)
    net = ConvLSTM(args.channels, args.channels, kernel_size=3, seed=0)

    def rnnrs_step(input_grad=False):
        net.zero_grad()
        net.forward(x, train=True)
        net.backward(dy, input_grad=input_grad)

    T, B, C, S = args.steps, args.batch, args.channels, args.size
    conv = 2 * B * S * S * 4 * C * C * 9  # flops of one input or recurrent convolution of one step
    flops = conv * (T + (T - 1)) * 2 + conv * (T - 1)  # forward, dW of both, dh for t >= 1

    print(f"ConvLSTM forward+backward, (T, B, C, H, W) = {shape}, 3x3, float32, {threads} threads")
    t_r = timed(rnnrs_step, args.repeats)
    print(f"rnnrs : {t_r * 1e3:9.1f} ms  ({flops / t_r / 1e9:.1f} GFLOP/s)")
    t_dx = timed(lambda: rnnrs_step(True), args.repeats)
    print(f"rnnrs : {t_dx * 1e3:9.1f} ms  with dx (+{conv * T / 1e9:.2f} GFLOP)")
    try:
        import torch  # noqa: F401
    except ImportError:
        print("torch : not installed (pip install torch to compare)")
        return
    t_t = timed(torch_step_fn(net, x, dy, threads), args.repeats)
    print(f"torch : {t_t * 1e3:9.1f} ms  ({flops / t_t / 1e9:.1f} GFLOP/s; nn.Conv2d ConvLSTM, no dx)")
    print(f"rnnrs / torch time: {t_r / t_t:.2f} (target <= 0.7)")


if __name__ == "__main__":
    main()
