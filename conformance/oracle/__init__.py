"""The NumPy float64 oracle: one implementation of each op, conventions as parameters.

``predictor`` renders the oracle's own inference step as standalone source (the NumPy
function the report shows and porting exports), so there is no second copy of the maths.
"""

from conformance.oracle import batchnorm, dropout, ghost, predictor, renorm

__all__ = ["batchnorm", "dropout", "ghost", "predictor", "renorm"]
