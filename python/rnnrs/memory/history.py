"""Neural history compressor (Schmidhuber 1992, "Learning complex, extended sequences using the
principle of history compression"), built from rnnrs layers.

A stack of recurrent predictors over a stream of symbols. Level 0 sees every symbol and learns to
predict the next one. Level k+1 sees only the symbols level k failed to predict (the probability level k
gave to the observed symbol is below `threshold`), each with a time stamp (the log of the steps since
the previous unpredicted symbol), so it runs on a compressed time scale where long lags become short.
Predictable inputs carry no information about the future beyond what level k knows, so nothing is lost.

The stack predicts the next symbol with level 0 where level 0 is confident (its largest probability is
at least `threshold`) and with the lowest level above that is, otherwise. `collapse` (the paper's
"collapsing" of the hierarchy into one net) distils the stack's predictions back into level 0: level 0
is trained on the stack's predicted distributions as soft targets.
"""

from __future__ import annotations

from typing import List, Optional

import numpy as np

from rnnrs import optim
from rnnrs.clip import clip_grad_norm_
from rnnrs.losses import cross_entropy, mse
from rnnrs.modules import Linear
from rnnrs.nn import GRU, LSTM, RNN

__all__ = ["HistoryCompressor"]

_CELLS = {"lstm": LSTM, "gru": GRU, "rnn": RNN}


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class _Predictor:
    """One level: a recurrent layer and a Linear readout giving next-symbol logits, trained with
    truncated BPTT (windows of `window` steps, the state carried across windows) and Adam."""

    def __init__(self, in_size: int, vocab: int, hidden: int, cell: str, lr: float, seed: int, dtype):
        self.rnn = _CELLS[cell](in_size, hidden, dtype=dtype, seed=seed)
        self.out = Linear(hidden, vocab, dtype=dtype, seed=seed + 1)
        self.dtype = np.dtype(dtype)
        params = {**{"rnn." + k: v for k, v in self.rnn.params.items()},
                  **{"out." + k: v for k, v in self.out.params.items()}}
        self.lr, self.seed = lr, seed
        self.opt = optim.Adam(params, lr=lr)
        self.aux: Optional[Linear] = None  # the collapse's head predicting the level above's state
        self.aux_opt = None

    def _grads(self):
        return {**{"rnn." + k: v for k, v in self.rnn.grads.items()},
                **{"out." + k: v for k, v in self.out.grads.items()}}

    def train_epoch(self, x: np.ndarray, target: np.ndarray, window: int, aux_target=None) -> float:
        """One pass over x (T, I) with targets (T,) class indices; mean loss. `aux_target` (T, H'):
        also regress these (the level above's states) from the hidden state (the collapse)."""
        if aux_target is not None and self.aux is None:
            self.aux = Linear(self.rnn.hidden_size, aux_target.shape[1], dtype=self.dtype, seed=self.seed + 2)
            self.aux_opt = optim.Adam(self.aux.params, lr=self.lr)
        hx, losses = None, []
        for s in range(0, len(x), window):
            xs = x[s : s + window, None, :]
            y, hx = self.rnn.forward(xs, hx, train=True)
            logits = self.out.forward(y[:, 0])
            loss, dlogits = cross_entropy(logits, target[s : s + window])
            self.rnn.zero_grad()
            self.out.zero_grad()
            dy = self.out.backward(dlogits)
            if aux_target is not None:
                self.aux.zero_grad()
                pred = self.aux.forward(y[:, 0])
                aux_loss, dpred = mse(pred, aux_target[s : s + window])
                dy = dy + self.aux.backward(dpred)
                clip_grad_norm_(self.aux.grads, 5.0)
                self.aux_opt.step(self.aux.grads)
            self.rnn.backward(dy[:, None, :])
            grads = self._grads()
            clip_grad_norm_(grads, 5.0)
            self.opt.step(grads)
            hx = tuple(h.copy() for h in hx) if isinstance(hx, tuple) else hx.copy()
            losses.append(float(loss))
        return float(np.mean(losses))

    def states(self, x: np.ndarray) -> np.ndarray:
        """Hidden states (T, H) after each input of x (T, I), run from a zero state."""
        y, _ = self.rnn(x[:, None, :])
        return y[:, 0]

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Next-symbol probabilities (T, V) after each input of x (T, I), run from a zero state."""
        y, _ = self.rnn(x[:, None, :])
        return _softmax(self.out(y[:, 0]).astype(np.float64))


class HistoryCompressor:
    """A stack of next-symbol predictors where each level sees only what the level below failed to predict.

    Args:
        vocab_size: symbols are the integers ``0..vocab_size-1``.
        levels: number of predictors in the stack (>= 1).
        hidden_size: units of each level's recurrent layer; cell: ``"lstm"``, ``"gru"`` or ``"rnn"``.
        threshold: an input is unpredicted by a level when the probability it gave that input is below this.
        window: truncated-BPTT window of the training (the lags a level can learn are about this long,
            which is what the compression gets around).
        lr: Adam's learning rate. seed: initialisation. dtype: float32 or float64.

    After `fit`: ``events_[k]`` are the stream positions level k saw, `compression_ratio_` is
    ``len(events_[1]) / len(events_[0])``.

    Example::

        hc = rr.HistoryCompressor(vocab_size=12, levels=2, window=4).fit(stream, epochs=10)
        print(hc.compression_ratio_, hc.score(test_stream))
    """

    def __init__(self, vocab_size: int, levels: int = 2, hidden_size: int = 32, cell: str = "lstm",
                 threshold: float = 0.5, window: int = 8, lr: float = 1e-2, seed: int = 0, dtype=np.float32):
        for name, v in (("vocab_size", vocab_size), ("levels", levels), ("hidden_size", hidden_size),
                        ("window", window)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name}: expected an integer >= 1, got {v!r}")
        if vocab_size < 2:
            raise ValueError(f"vocab_size: expected at least 2 symbols, got {vocab_size}")
        if cell not in _CELLS:
            raise ValueError(f"cell: expected one of {sorted(_CELLS)}, got {cell!r}")
        if not 0.0 < float(threshold) <= 1.0:
            raise ValueError(f"threshold: expected a probability in (0, 1], got {threshold!r}")
        self.vocab_size, self.levels, self.window = int(vocab_size), int(levels), int(window)
        self.threshold = float(threshold)
        self.dtype = np.dtype(dtype)
        # Level 0 reads one-hot symbols; higher levels add the time stamp.
        self.predictors: List[_Predictor] = [
            _Predictor(self.vocab_size + (k > 0), self.vocab_size, int(hidden_size), cell, lr, seed + 10 * k, dtype)
            for k in range(self.levels)
        ]
        self.events_: Optional[List[np.ndarray]] = None
        self.compression_ratio_: Optional[float] = None

    def _stream(self, stream) -> np.ndarray:
        s = np.asarray(stream)
        if s.ndim != 1 or not np.issubdtype(s.dtype, np.integer):
            raise ValueError(f"stream: expected a 1-D array of integer symbols, got {s.dtype} shape {s.shape}")
        if len(s) < 2:
            raise ValueError(f"stream: expected at least 2 symbols, got {len(s)}")
        if s.min() < 0 or s.max() >= self.vocab_size:
            raise ValueError(f"stream: symbols must lie in [0, {self.vocab_size}), got [{s.min()}, {s.max()}]")
        return s.astype(np.int64)

    def _inputs(self, stream: np.ndarray, pos: np.ndarray, level: int) -> np.ndarray:
        """Level `level`'s inputs for the events at positions `pos`: one-hot symbol (+ time stamp)."""
        x = np.zeros((len(pos), self.vocab_size + (level > 0)), self.dtype)
        x[np.arange(len(pos)), stream[pos]] = 1
        if level > 0:
            gaps = np.diff(pos, prepend=pos[0] if len(pos) else 0)
            x[:, -1] = np.log1p(gaps) / np.log1p(len(stream))
        return x

    def _unpredicted(self, stream: np.ndarray, pos: np.ndarray, probs: np.ndarray) -> np.ndarray:
        """The events of `pos` (after the first) whose symbol got probability < threshold, plus the first."""
        p_obs = probs[np.arange(len(pos) - 1), stream[pos[1:]]]
        return np.concatenate([pos[:1], pos[1:][p_obs < self.threshold]])

    def fit(self, stream, epochs: int = 10) -> "HistoryCompressor":
        """Trains the levels bottom-up: level k on the events level k-1 did not predict."""
        s = self._stream(stream)
        if isinstance(epochs, bool) or int(epochs) < 1:
            raise ValueError(f"epochs: expected an integer >= 1, got {epochs!r}")
        pos = np.arange(len(s))
        self.events_ = []
        for k, pred in enumerate(self.predictors):
            self.events_.append(pos)
            if len(pos) < 2:
                break
            x = self._inputs(s, pos, k)
            for _ in range(int(epochs)):
                pred.train_epoch(x[:-1], s[pos[1:]], self.window)
            pos = self._unpredicted(s, pos, pred.predict(x[:-1]))
        self.compression_ratio_ = len(self.events_[1]) / len(s) if len(self.events_) > 1 else 1.0
        return self

    def predict_proba(self, stream) -> np.ndarray:
        """The stack's next-symbol distribution after each symbol of `stream` (T-1, V): level 0's where it
        is confident, else that of the lowest confident level above (the top level as last resort),
        each level fed only with the events the levels below did not predict."""
        if self.events_ is None:
            raise RuntimeError("predict_proba: call fit first")
        s = self._stream(stream)
        t_n = len(s)
        pos = np.arange(t_n)
        out = None
        decided = np.zeros(t_n - 1, bool)
        for k, pred in enumerate(self.predictors):
            probs = pred.predict(self._inputs(s, pos, k))  # after each event of pos
            # The distribution this level offers for step t+1: its prediction after its last event <= t.
            last = np.searchsorted(pos, np.arange(t_n - 1), side="right") - 1
            level_p = probs[last]
            if out is None:
                out = level_p.copy()
            confident = level_p.max(axis=1) >= self.threshold
            take = ~decided & (confident | (k == self.levels - 1))
            out[take] = level_p[take]
            decided |= take
            pos = self._unpredicted(s, pos, probs[:-1]) if len(pos) > 1 else pos
            if len(pos) < 2:
                break
        return out

    def score(self, stream) -> dict:
        """Next-symbol accuracy and log-loss on `stream`: level 0 alone vs the stack, overall and at the
        surprises (the positions level 0 did not predict)."""
        s = self._stream(stream)
        x0 = self._inputs(s, np.arange(len(s)), 0)
        p0 = self.predictors[0].predict(x0[:-1])
        ps = self.predict_proba(s)
        target = s[1:]
        idx = np.arange(len(target))
        surprise = p0[idx, target] < self.threshold

        def stats(p, where):
            if not where.any():
                return float("nan"), float("nan")
            acc = float((p[where].argmax(axis=1) == target[where]).mean())
            nll = float(-np.log(np.maximum(p[idx[where], target[where]], 1e-12)).mean())
            return acc, nll

        all_ = np.ones_like(surprise)
        return dict(
            surprises=int(surprise.sum()),
            level0_accuracy=stats(p0, all_)[0], stack_accuracy=stats(ps, all_)[0],
            level0_surprise_accuracy=stats(p0, surprise)[0], stack_surprise_accuracy=stats(ps, surprise)[0],
            level0_surprise_nll=stats(p0, surprise)[1], stack_surprise_nll=stats(ps, surprise)[1],
        )

    def collapse(self, stream, epochs: int = 10) -> "HistoryCompressor":
        """Collapses level 1 into level 0 (the 1992 paper's distillation): level 0 is trained, besides its
        own next-symbol target, to predict level 1's hidden state at every step (the state after level 1's
        last event). That target is present at every step, so short truncated-BPTT windows suffice for
        level 0 to learn to carry what level 1 knows across long lags."""
        if self.events_ is None or len(self.predictors) < 2:
            raise RuntimeError("collapse: needs a fitted stack of at least 2 levels")
        s = self._stream(stream)
        t_n = len(s)
        pos = np.arange(t_n)
        p0 = self.predictors[0].predict(self._inputs(s, pos, 0)[:-1])
        ev = self._unpredicted(s, pos, p0)
        h1 = self.predictors[1].states(self._inputs(s, ev, 1))
        last = np.searchsorted(ev, np.arange(t_n - 1), side="right") - 1
        target_states = np.ascontiguousarray(h1[last], dtype=self.dtype)
        x0 = self._inputs(s, pos, 0)
        for _ in range(int(epochs)):
            self.predictors[0].train_epoch(x0[:-1], s[1:], self.window, aux_target=target_states)
        return self
