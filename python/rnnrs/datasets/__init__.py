"""Data sets: seeded generators of benchmark series and tasks, and real data shipped with rnnrs.

- `series`: chaotic and benchmark time series for reservoir computing (Mackey-Glass, NARMA, Lorenz, ...).
- `ts`: the UEA/UCR ``.ts`` reader `load_ts` and the shipped UCI Japanese Vowels set.

Every generator is seeded and returns NumPy arrays; see each function's docstring for its shapes.
"""

from rnnrs.datasets.series import henon_map, logistic_map, lorenz, mackey_glass, narma, to_forecasting
from rnnrs.datasets.ts import TsData, japanese_vowels, load_ts
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
    "ExpressionTrees",
    "expression_trees",
    "moving_shapes",
]
