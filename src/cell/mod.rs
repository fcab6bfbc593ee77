//! Recurrent cells: one file per cell (Elman, LSTM, GRU ...).
