//! Reservoir computing: sparse reservoirs, spectral radius, ridge readouts.
