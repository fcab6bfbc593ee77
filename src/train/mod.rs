//! Training toolkit: gradient clipping, losses, optimizers.
