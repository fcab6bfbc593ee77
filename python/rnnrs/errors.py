"""The exceptions rnnrs raises.

Every error is an :class:`RnnrsError` that also derives from the built-in
exception a NumPy user expects, so ``except ValueError`` keeps working:

========================  ==========================  =======================================
class                     also a                      raised for
========================  ==========================  =======================================
:class:`ShapeError`       ``ValueError``              an array of the wrong shape (``.arg``)
:class:`ArgumentError`    ``ValueError``              a value out of its range (``.arg``)
:class:`DTypeError`       ``TypeError``               an argument of the wrong type (``.arg``)
:class:`FileFormatError`  ``ValueError``              a file that is not what was expected (``.path``)
:class:`NonFiniteError`   ``RuntimeError``            NaN or infinity where a number is required
:class:`NumericalError`   ``RuntimeError``            a singular system, no convergence ...
:class:`AllocationError`  ``MemoryError``             memory that cannot be had
========================  ==========================  =======================================

Ctrl-C during a long call raises the plain ``KeyboardInterrupt``. The Rust
core's errors are mapped to these classes in one place (``src/python/errors.rs``).
"""

from __future__ import annotations

__all__ = [
    "AllocationError",
    "ArgumentError",
    "DTypeError",
    "FileFormatError",
    "NonFiniteError",
    "NumericalError",
    "RnnrsError",
    "ShapeError",
]


class RnnrsError(Exception):
    """Base class of the errors rnnrs raises; ``arg`` names the argument concerned (or is None)."""

    def __init__(self, message: str = "", arg: str | None = None):
        super().__init__(message)
        self.arg = arg


class ShapeError(RnnrsError, ValueError):
    """An array has the wrong number of dimensions or sizes."""


class ArgumentError(RnnrsError, ValueError):
    """A value is out of its allowed range or not one of the allowed options."""


class DTypeError(RnnrsError, TypeError):
    """An argument has the wrong type or dtype."""


class NonFiniteError(RnnrsError, RuntimeError):
    """A NaN or infinity where a finite number is required."""


class NumericalError(RnnrsError, RuntimeError):
    """A numerical failure (singular matrix, no convergence ...)."""


class AllocationError(RnnrsError, MemoryError):
    """An allocation that cannot be made (too large, or out of memory)."""


class FileFormatError(RnnrsError, ValueError):
    """A file is truncated, corrupt or not of the expected kind; ``path`` names it."""

    def __init__(self, message: str = "", path: str | None = None, arg: str | None = None):
        super().__init__(f"{path}: {message}" if path else message, arg)
        self.path = path
