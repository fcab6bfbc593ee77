"""Reservoir computing: reservoirs, readouts and scikit-learn estimators.

One concern per module: `reservoir` (the leaky reservoir and its weights), `readouts` (Ridge, RLS,
LMS), `esn` (the `ESN` regressor), `classifier` (`ESNClassifier`), `nvar` (`NVAR`,
next-generation reservoir computing), `deep` (`DeepESN`: deep and grouped reservoirs), `es2n` (`ES2N`),
`plasticity` (`IPReservoir`,
`LocalPlasticityReservoir`), `observables`, `init` (matrix initialisers), `search`
(search spaces and trials for `rnnrs.dask.search`). Every public name is importable from
`rnnrs.reservoir` as before the split.
"""

from rnnrs.reservoir import init
from rnnrs.reservoir._sklearn import NotFittedError
from rnnrs.reservoir.classifier import ESNClassifier
from rnnrs.reservoir.deep import DeepESN
from rnnrs.reservoir.es2n import ES2N
from rnnrs.reservoir.esn import ESN
from rnnrs.reservoir.nvar import NVAR
from rnnrs.reservoir.plasticity import IPReservoir, LocalPlasticityReservoir
from rnnrs.reservoir.observables import effective_spectral_radius, lyapunov_exponent, memory_capacity
from rnnrs.reservoir.readouts import LMS, RLS, Ridge
from rnnrs.reservoir.reservoir import Reservoir

__all__ = [
    "DeepESN",
    "ES2N",
    "ESN",
    "ESNClassifier",
    "IPReservoir",
    "LMS",
    "LocalPlasticityReservoir",
    "NVAR",
    "NotFittedError",
    "RLS",
    "Reservoir",
    "Ridge",
    "effective_spectral_radius",
    "init",
    "lyapunov_exponent",
    "memory_capacity",
]
