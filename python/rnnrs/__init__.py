"""rnnrs: fast CPU recurrent neural networks with a NumPy API and a Rust core."""

from rnnrs import datasets, functional, losses, metrics, optim, rtrl, train
from rnnrs.sampling import generate
from rnnrs._core import get_num_threads, set_num_threads
from rnnrs.clip import clip_grad_norm_, clip_grad_value_
from rnnrs.model import LastStep, Sequential
from rnnrs.modules import Embedding, Linear
from rnnrs.nn import GRU, LSTM, RNN, tbptt_chunks
from rnnrs.reference.gradcheck import gradcheck, numerical_grad
from rnnrs.reservoir import ESN, LMS, RLS, Reservoir, Ridge
from rnnrs.rtrl import DiagRNN, IndRNN
from rnnrs.reservoir import ES2N, NVAR, DeepESN, ESNClassifier, IPReservoir, LocalPlasticityReservoir
from rnnrs import errors
from rnnrs.errors import RnnrsError
from rnnrs import models, seq2seq  # noqa: E402
from rnnrs import hopfield, memory
from rnnrs.memory import NTM, HistoryCompressor
from rnnrs import conv, tree
from rnnrs.lsm import LSM
from rnnrs import cells
from rnnrs.cells import LayerNormGRU, LayerNormLSTM, LeakyRNN
from rnnrs.cells_time import ClockworkRNN, DeepTransitionRNN, Dilated, DilatedRNN
from rnnrs.nn import MGU
from rnnrs.jordan import Jordan

__version__ = "0.1.0"

__all__ = [
    "DiagRNN",
    "ESN",
    "Embedding",
    "GRU",
    "IndRNN",
    "LMS",
    "LSTM",
    "LastStep",
    "Linear",
    "RLS",
    "RNN",
    "Reservoir",
    "Ridge",
    "Sequential",
    "__version__",
    "clip_grad_norm_",
    "clip_grad_value_",
    "datasets",
    "functional",
    "generate",
    "get_num_threads",
    "gradcheck",
    "losses",
    "metrics",
    "numerical_grad",
    "optim",
    "rtrl",
    "set_num_threads",
    "tbptt_chunks",
    "train",
    "ESNClassifier",
    "NVAR",
    "DeepESN",
    "ES2N",
    "IPReservoir",
    "LocalPlasticityReservoir",
    "RnnrsError",
    "errors",
    "models",
    "seq2seq",
    "NTM",
    "HistoryCompressor",
    "hopfield",
    "memory",
    "conv",
    "tree",
    "LSM",
    "cells",
    "LeakyRNN",
    "LayerNormLSTM",
    "LayerNormGRU",
    "ClockworkRNN",
    "Dilated",
    "DilatedRNN",
    "DeepTransitionRNN",
    "MGU",
    "Jordan",
]
