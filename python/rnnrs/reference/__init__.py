"""`rnnrs.reference`: plain, readable NumPy math for everything rnnrs computes.

Slow on purpose and written for reading: one function per idea, comments
naming the equations. It is the tests' ground truth; each module covers one
area.
"""

# --- rtrl ---
from rnnrs.reference import rtrl  # noqa: E402,F401
