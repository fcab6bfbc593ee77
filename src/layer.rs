//! Stacked and bidirectional sequence driver over the cells; BPTT.
