"""Case generation: families of parameter sets and their materialized inputs."""

from conformance.cases.families import FAMILIES, generate, inputs_for
from conformance.cases.model import Case, Tolerance
from conformance.cases.store import load_inputs, load_manifest, materialize
from conformance.cases.tolerances import tolerance_for

__all__ = ["FAMILIES", "Case", "Tolerance", "generate", "inputs_for", "load_inputs",
           "load_manifest", "materialize", "tolerance_for"]
