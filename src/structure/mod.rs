//! Networks over structure: recursive networks and Tree-LSTMs over batches of
//! trees (`tree`), batched level by level, and 2-D convolution with its
//! backward (`conv`), the building block of the recurrent convolutional
//! layers.

pub mod conv;
pub mod convlstm;
pub mod tree;
