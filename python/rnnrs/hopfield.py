"""`rnnrs.hopfield`: the classical and modern Hopfield networks (see `rnnrs.memory.hopfield`)."""

from rnnrs.memory.hopfield import Hopfield, ModernHopfield, modern_retrieve

__all__ = ["Hopfield", "ModernHopfield", "modern_retrieve"]
