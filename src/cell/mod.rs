//! Recurrent cells: one file per cell. Each defines its parameter layout, the
//! forward step and the backward step.

// Element-wise recurrent cells (exact RTRL in O(P)); owned by the RTRL work.
pub mod diag;
pub mod indrnn;
