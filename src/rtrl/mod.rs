//! Real-time recurrent learning: exact and approximate forward-mode gradients.
