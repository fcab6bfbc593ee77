//! IndRNN: h_t = act(W x_t + u * h_{t-1} + b), an element-wise recurrence.
