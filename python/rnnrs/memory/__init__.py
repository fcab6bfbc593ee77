"""Networks with memory: Hopfield networks (classical and modern), the Neural Turing Machine and
Schmidhuber's neural history compressor."""

from rnnrs.memory import hopfield
from rnnrs.memory.hopfield import Hopfield, ModernHopfield, modern_retrieve
from rnnrs.memory.history import HistoryCompressor
from rnnrs.memory.ntm import NTM

__all__ = ["HistoryCompressor", "Hopfield", "ModernHopfield", "NTM", "hopfield", "modern_retrieve"]
