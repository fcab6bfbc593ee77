"""The gate table: how many gate blocks of ``hidden_size`` rows each core mode
stacks in ``weight_ih`` / ``weight_hh`` / the biases (PyTorch's layout).

The one copy: `rnnrs.functional` and `rnnrs.reference` import it. (Modes
whose parameters have fewer rows than ``gates * H``, the GRU variants, give
their blocks separately; see ``rnnrs.functional._BLOCKS``.)
"""

GATES: dict[str, int] = {
    "RNN_TANH": 1,
    "RNN_RELU": 1,
    "LSTM": 4,
    "GRU": 3,
    "LSTM_NOFORGET": 3,
    "LSTM_CIFG": 3,
    "LSTM_PEEPHOLE": 4,
    "GRU1": 3,
    "GRU2": 3,
    "GRU3": 3,
    "MGU": 2,
    "LEAKY": 1,
    "LAYERNORM_LSTM": 4,
    "LAYERNORM_GRU": 3,
}
