"""Data sets: seeded generators of benchmark series and tasks, and real data shipped with rnnrs.

- `series`: chaotic and benchmark time series for reservoir computing (Mackey-Glass, NARMA, Lorenz, ...).
- `tasks_seq2seq`: date normalisation, digit reversal and sorting, and `CharVocab`.
- `ts`: the UEA/UCR ``.ts`` reader `load_ts` and the shipped UCI Japanese Vowels set.

Every generator is seeded and returns NumPy arrays; see each function's docstring for its shapes.
"""

from rnnrs.datasets.series import henon_map, logistic_map, lorenz, mackey_glass, narma, to_forecasting
from rnnrs.datasets.ts import TsData, japanese_vowels, load_ts
from rnnrs.datasets.chaos import (doublescroll, kuramoto_sivashinsky, lorenz96, mso, mso2, mso8, multiscroll, rabinovich_fabrikant, rossler)  # noqa: E501, I001
from rnnrs.datasets.tasks_seq2seq import DATE_FORMATS, CharVocab, dates, digit_reversal, digit_sorting
from rnnrs.datasets.tasks_memory import associative_recall, bit_errors, copy_task, priority_sort, repeat_copy
from rnnrs.datasets.tasks_structure import ExpressionTrees, expression_trees, moving_shapes

__all__ = [
    "TsData",
    "henon_map",
    "japanese_vowels",
    "load_ts",
    "logistic_map",
    "lorenz",
    "mackey_glass",
    "narma",
    "to_forecasting",
    "doublescroll",
    "kuramoto_sivashinsky",
    "lorenz96",
    "mso",
    "mso2",
    "mso8",
    "multiscroll",
    "rabinovich_fabrikant",
    "rossler",
    "CharVocab",
    "DATE_FORMATS",
    "dates",
    "digit_reversal",
    "digit_sorting",
    "associative_recall",
    "bit_errors",
    "copy_task",
    "priority_sort",
    "repeat_copy",
    "ExpressionTrees",
    "expression_trees",
    "moving_shapes",
]
