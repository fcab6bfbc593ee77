//! Networks with memory: the classical and modern Hopfield networks and the
//! Neural Turing Machine (controller, addressing, heads, BPTT through memory).

pub mod controller;
pub mod hopfield;
pub mod modern;
pub mod ntm;
pub mod splitmix;
