//! Diagonal leaky/linear recurrent unit: an element-wise recurrence.
