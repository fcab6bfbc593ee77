"""`rnnrs.reference`: plain, readable NumPy math for everything rnnrs computes.

Slow on purpose and written for reading: one function per idea, comments
naming the equations. It is the tests' ground truth; each module covers one
area.
"""

from rnnrs.reference import esn, reservoir_features, rtrl, train
from rnnrs.reference import cells  # registers the further cells with the layer driver
from rnnrs.reference.gradcheck import gradcheck, numerical_grad
from rnnrs.reference.layers import (
    GATES,
    MODES,
    ForwardCache,
    direction_backward,
    direction_forward,
    elman_step,
    elman_step_backward,
    elman_step_forward,
    gru_step,
    gru_step_backward,
    gru_step_forward,
    init_params,
    lstm_step,
    lstm_step_backward,
    lstm_step_forward,
    param_names,
    param_shapes,
    rnn_backward,
    rnn_forward,
)
from rnnrs.reference.packed import packed_backward, packed_forward

__all__ = [
    "cells",
    "GATES",
    "MODES",
    "ForwardCache",
    "direction_backward",
    "direction_forward",
    "elman_step",
    "elman_step_backward",
    "elman_step_forward",
    "gradcheck",
    "gru_step",
    "gru_step_backward",
    "gru_step_forward",
    "init_params",
    "lstm_step",
    "lstm_step_backward",
    "lstm_step_forward",
    "numerical_grad",
    "packed_backward",
    "packed_forward",
    "param_names",
    "param_shapes",
    "rnn_backward",
    "rnn_forward",
    "esn",
    "reservoir_features",
    "rtrl",
    "train",
]
