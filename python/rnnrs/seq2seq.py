"""Sequence to sequence: encoder-decoder models with attention, trained and
decoded in the Rust core (the decoder's time loop, forward and backward,
never runs in Python).

Models
------
`Seq2Seq(src_vocab, tgt_vocab, ..., form=...)`:

- ``form="attention"`` (default): the decoder attends over the encoder
  outputs at every step, with ``attention="additive"`` (Bahdanau et al.
  2015), ``"dot"`` or ``"general"`` (Luong et al. 2015), masked past each
  source length; the context is fed into the decoder's input and readout;
  the decoder starts from the encoder's final state.
- ``form="sutskever"`` (Sutskever et al. 2014): the encoder's final state is
  the decoder's initial state; ``reverse_source=True`` reverses each source
  sequence (within its length) before encoding, as in the paper.
- ``form="cho"`` (Cho et al. 2014): the encoder's final hidden state is a
  context fed to every decoder step and to the readout; the decoder starts
  from zeros.

The decoder step is ``a_t = context(s_{t-1})``, ``s_t = cell([E y_{t-1};
a_t], s_{t-1})``, ``logits_t = W_out [s_t; a_t] + b``; the loss is the mean
cross-entropy over the target tokens inside their lengths.

Data: padded int token arrays ``src`` ``(B, S)`` and ``tgt`` ``(B, T)``
(batch first) with lengths ``(B,)``; `rnnrs.datasets.CharVocab.encode`
builds them. Targets end with the end token; the decoder's first input is
the start token ``bos``. Padding is never read.

Training: ``loss = model.train_step(src, src_lengths, tgt, tgt_lengths)``
adds the gradients into ``model.grads`` (``params``/``grads`` are named
NumPy arrays, views of one flat vector, so `rnnrs.optim` and
`rnnrs.clip_grad_norm_` work on them). ``teacher_prob`` picks the input
feeding: 1 teacher forcing, 0 free running (the model's arg-max), in between
scheduled sampling; `ScheduledSampling` (Bengio et al. 2015) gives the
probability per update from a linear, exponential or inverse-sigmoid
schedule.

Decoding: `Seq2Seq.greedy`, `Seq2Seq.beam_search` (width, length
normalisation, end token, max length) and `Seq2Seq.sample` (temperature,
top-k, seeded), batched.

`RecurrentAutoencoder` (Dai & Le 2015) reconstructs its input through the
encoder's final state; ``encode`` returns that fixed-size code.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Mapping, NamedTuple, Optional

import numpy as np

from rnnrs import _core
from rnnrs.train import ScheduledSampling as _Schedule

__all__ = ["Decoded", "RecurrentAutoencoder", "Seq2Seq", "ScheduledSampling"]

_FORMS = {"attention", "sutskever", "cho"}
_SCORES = ("additive", "dot", "general")


class Decoded(NamedTuple):
    """Decoded sequences: ``tokens`` ``(B, max_len)`` (the end token
    included, then padded with it), ``lengths`` ``(B,)``, ``scores`` ``(B,)``
    (sum of log-probabilities; beam search: divided by
    ``length ** length_penalty``) and ``attention`` ``(B, max_len, S)`` or
    None."""

    tokens: np.ndarray
    lengths: np.ndarray
    scores: np.ndarray
    attention: Optional[np.ndarray]


class ScheduledSampling:
    """Teacher-forcing probability per update (Bengio et al. 2015).

    ``schedule``: ``"linear"`` ``max(min_teacher, 1 - i / k)``,
    ``"exponential"`` ``k ** i`` (0 < k < 1), ``"inverse_sigmoid"``
    ``k / (k + exp(i / k))`` (k >= 1), never below ``min_teacher``.
    ``seed(i)`` is the seed of the draws of update ``i`` (reproducible).

    >>> ss = ScheduledSampling("inverse_sigmoid", k=200, seed=0)
    >>> model.train_step(src, sl, tgt, tl, teacher_prob=ss(i), seed=ss.seed(i))
    """

    def __init__(self, schedule: str = "inverse_sigmoid", k: float = 1000.0, min_teacher: float = 0.0,
                 seed: int = 0):
        if not callable(schedule) and schedule not in ("linear", "exponential", "inverse_sigmoid"):
            raise ValueError(f"schedule: expected 'linear', 'exponential' or 'inverse_sigmoid', got {schedule!r}")
        self._s = _Schedule(schedule, k=k, min_teacher=min_teacher, seed=seed)
        self.schedule, self.k, self.min_teacher, self.seed_ = schedule, k, min_teacher, int(seed)

    def __call__(self, i: int) -> float:
        """Teacher-forcing probability at update ``i``."""
        return float(min(1.0, max(0.0, self._s.teacher_probability(int(i)))))

    def seed(self, i: int) -> int:
        """Seed for the draws of update ``i``."""
        return int(np.random.default_rng([self.seed_, int(i)]).integers(0, 2**63 - 1))


def _tokens(name: str, x, lengths):
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.integer):
        raise TypeError(f"{name}: expected an integer token array, got dtype {x.dtype}")
    if x.ndim != 2:
        raise ValueError(f"{name}: expected a (batch, time) token array, got shape {x.shape}")
    if lengths is None:
        lengths = np.full(x.shape[0], x.shape[1], dtype=np.int64)
    lengths = np.asarray(lengths)
    if not np.issubdtype(lengths.dtype, np.integer):
        raise TypeError(f"{name}_lengths: expected integers, got dtype {lengths.dtype}")
    if lengths.ndim != 1:
        raise ValueError(f"{name}_lengths: expected a 1-D array, got shape {lengths.shape}")
    return np.ascontiguousarray(x, dtype=np.int64), np.ascontiguousarray(lengths, dtype=np.int64)


def _positive(name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ValueError(f"{name}: expected an integer >= 1, got {v!r}")
    return int(v)


class Seq2Seq:
    """Encoder-decoder (one recurrent layer each) with optional attention.

    Parameters: ``src_vocab``, ``tgt_vocab`` (token counts),
    ``embedding_dim``, ``hidden_size``, ``cell`` ("lstm" | "gru"), ``form``
    ("attention" | "sutskever" | "cho"), ``attention`` ("additive" | "dot" |
    "general"), ``attention_dim`` (additive only; default ``hidden_size``),
    ``reverse_source``, ``bos``/``eos`` (start and end tokens of the target
    vocabulary), ``dtype`` (float32 | float64), ``seed``.

    Initialisation: PyTorch's (``U(-1/sqrt(H), 1/sqrt(H))`` for recurrent and
    attention weights, ``N(0, 1)`` embeddings, ``U(-1/sqrt(in), 1/sqrt(in))``
    for the readout).
    """

    def __init__(self, src_vocab: int, tgt_vocab: int, embedding_dim: int = 32, hidden_size: int = 64, *,
                 cell: str = "lstm", form: str = "attention", attention: str = "additive",
                 attention_dim: Optional[int] = None, reverse_source: bool = False, bos: int = 1, eos: int = 2,
                 dtype=np.float32, seed: Optional[int] = None):
        if form not in _FORMS:
            raise ValueError(f"form: expected one of {sorted(_FORMS)}, got {form!r}")
        if form == "attention" and attention not in _SCORES:
            raise ValueError(f"attention: expected one of {list(_SCORES)}, got {attention!r}")
        if cell not in ("lstm", "gru"):
            raise ValueError(f"cell: expected 'lstm' or 'gru', got {cell!r}")
        dt = np.dtype(dtype)
        if dt not in (np.float32, np.float64):
            raise TypeError(f"dtype: expected float32 or float64, got {dt}")
        self.src_vocab, self.tgt_vocab = _positive("src_vocab", src_vocab), _positive("tgt_vocab", tgt_vocab)
        self.embedding_dim, self.hidden_size = _positive("embedding_dim", embedding_dim), _positive(
            "hidden_size", hidden_size)
        self.attention_dim = self.hidden_size if attention_dim is None else _positive("attention_dim", attention_dim)
        for name, tok in (("bos", bos), ("eos", eos)):
            if isinstance(tok, bool) or not isinstance(tok, (int, np.integer)) or not 0 <= tok < self.tgt_vocab:
                raise ValueError(f"{name}: expected a token in [0, {self.tgt_vocab}), got {tok!r}")
        self.cell, self.form, self.dtype = cell, form, dt
        self.attention = attention if form == "attention" else None
        self.reverse_source = bool(reverse_source)
        self.bos, self.eos = int(bos), int(eos)
        context = {"sutskever": "none", "cho": "fixed"}.get(form, attention)
        self._spec = _core.Seq2SeqSpec(cell, context, self.src_vocab, self.tgt_vocab, self.embedding_dim,
                                       self.hidden_size, self.attention_dim)
        self._flat = np.zeros(self._spec.size, dtype=dt)
        self._gflat = np.zeros_like(self._flat)
        self.params: "OrderedDict[str, np.ndarray]" = OrderedDict()
        self.grads: "OrderedDict[str, np.ndarray]" = OrderedDict()
        off = 0
        for name, shape in self._spec.layout():
            n = int(np.prod(shape))
            self.params[name] = self._flat[off:off + n].reshape(shape)
            self.grads[name] = self._gflat[off:off + n].reshape(shape)
            off += n
        self._init(np.random.default_rng(seed))

    def _init(self, rng: np.random.Generator) -> None:
        k = 1.0 / np.sqrt(self.hidden_size)
        for name, p in self.params.items():
            if name.endswith("embedding.weight"):
                p[...] = rng.standard_normal(p.shape)
            elif name.startswith("out."):
                bound = 1.0 / np.sqrt(self.params["out.weight"].shape[1])
                p[...] = rng.uniform(-bound, bound, p.shape)
            else:
                p[...] = rng.uniform(-k, k, p.shape)

    def __repr__(self) -> str:
        att = f", attention={self.attention!r}" if self.attention else ""
        return (f"{type(self).__name__}(src_vocab={self.src_vocab}, tgt_vocab={self.tgt_vocab}, "
                f"embedding_dim={self.embedding_dim}, hidden_size={self.hidden_size}, cell={self.cell!r}, "
                f"form={self.form!r}{att}, dtype={self.dtype})")

    # --- parameters ---------------------------------------------------------
    def zero_grad(self) -> None:
        """Sets every accumulated gradient to zero."""
        self._gflat.fill(0)

    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Copies of the parameters by name."""
        return OrderedDict((k, v.copy()) for k, v in self.params.items())

    def load_state_dict(self, state_dict: Mapping[str, np.ndarray]) -> None:
        """Copies arrays into the parameters in place (names and shapes must match)."""
        missing = [k for k in self.params if k not in state_dict]
        unexpected = [k for k in state_dict if k not in self.params]
        if missing or unexpected:
            raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}")
        for k, p in self.params.items():
            v = np.asarray(state_dict[k])
            if v.shape != p.shape:
                raise ValueError(f"state_dict[{k!r}]: expected shape {p.shape}, got {v.shape}")
            np.copyto(p, v, casting="same_kind")

    # --- running ------------------------------------------------------------
    def _src(self, src, src_lengths):
        src, lengths = _tokens("src", src, src_lengths)
        if self.reverse_source:
            src = src.copy()
            for i, n in enumerate(lengths):
                if 0 < n <= src.shape[1]:
                    src[i, :n] = src[i, :n][::-1]
        return src, lengths

    def train_step(self, src, src_lengths, tgt, tgt_lengths, teacher_prob: float = 1.0, seed: int = 0) -> float:
        """Forward and backward over a batch; returns the mean cross-entropy.

        ADDS the gradients into ``grads`` (call `zero_grad` between updates).
        ``teacher_prob``: probability of feeding the true previous token
        (1 teacher forcing, 0 free running, else scheduled sampling with
        draws seeded by ``seed``).
        """
        src, sl = self._src(src, src_lengths)
        tgt, tl = _tokens("tgt", tgt, tgt_lengths)
        return self._spec.train_step(self._flat, self._gflat, src, sl, tgt, tl, self.bos, float(teacher_prob),
                                     int(seed))

    def forward(self, src, src_lengths, tgt, tgt_lengths, teacher_prob: float = 1.0, seed: int = 0):
        """``(loss, logits (B, T, V), attention (B, T, S) or None)`` without gradients."""
        src, sl = self._src(src, src_lengths)
        tgt, tl = _tokens("tgt", tgt, tgt_lengths)
        return self._spec.forward(self._flat, src, sl, tgt, tl, self.bos, float(teacher_prob), int(seed))

    def evaluate(self, src, src_lengths, tgt, tgt_lengths) -> float:
        """Teacher-forced mean cross-entropy (no gradients)."""
        return float(self.forward(src, src_lengths, tgt, tgt_lengths)[0])

    def _decode(self, src, src_lengths, max_len, method, **kw) -> Decoded:
        src, sl = self._src(src, src_lengths)
        max_len = _positive("max_len", max_len)
        toks, lens, scores, att = self._spec.decode(self._flat, src, sl, self.bos, self.eos, max_len, method, **kw)
        return Decoded(toks, lens, scores, att)

    def greedy(self, src, src_lengths=None, max_len: int = 50) -> Decoded:
        """Arg-max decoding of every source sequence, until ``eos`` or ``max_len``."""
        return self._decode(src, src_lengths, max_len, "greedy")

    def beam_search(self, src, src_lengths=None, beam_width: int = 4, max_len: int = 50,
                    length_penalty: float = 1.0) -> Decoded:
        """Beam search: keeps ``beam_width`` hypotheses per sequence; a
        sequence is done when ``beam_width`` hypotheses have ended with
        ``eos`` (or at ``max_len``); returns the best by
        ``log p / length ** length_penalty`` (0: no normalisation)."""
        return self._decode(src, src_lengths, max_len, "beam", beam_width=_positive("beam_width", beam_width),
                            length_penalty=float(length_penalty))

    def sample(self, src, src_lengths=None, max_len: int = 50, temperature: float = 1.0, top_k: int = 0,
               seed: int = 0) -> Decoded:
        """Samples each next token from ``softmax(logits / temperature)``
        restricted to the ``top_k`` most likely (0: all), seeded."""
        if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 0:
            raise ValueError(f"top_k: expected an integer >= 0, got {top_k!r}")
        return self._decode(src, src_lengths, max_len, "sample", temperature=float(temperature), top_k=int(top_k),
                            seed=int(seed))


class RecurrentAutoencoder(Seq2Seq):
    """Sequence autoencoder (Dai & Le 2015): a Sutskever encoder-decoder
    trained to reproduce its input; ``encode`` returns the fixed-size code
    (the encoder's final hidden state ``(B, hidden_size)``).

    Train with ``train_step(x, lengths, x_eos, lengths + 1)`` where ``x_eos``
    is ``x`` with the end token appended (`CharVocab.encode(..., eos=True)`).
    """

    def __init__(self, vocab: int, embedding_dim: int = 32, hidden_size: int = 64, *, cell: str = "lstm",
                 bos: int = 1, eos: int = 2, dtype=np.float32, seed: Optional[int] = None):
        super().__init__(vocab, vocab, embedding_dim, hidden_size, cell=cell, form="sutskever", bos=bos, eos=eos,
                         dtype=dtype, seed=seed)

    def encode(self, x, lengths=None) -> np.ndarray:
        """The code of each sequence: ``(B, hidden_size)``."""
        src, sl = self._src(x, lengths)
        return self._spec.encode(self._flat, src, sl)
