"""The one table of frameworks, ops, behaviours and outcomes.

Everything else (CLI choices, CSV schemas, inference, expectations, tests)
derives from this module. A behaviour name or value that is not here is a bug.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from conformance.environments import ADAPTERS

SCHEMA_VERSION = 2

# The frameworks are the keys of the adapter table (one list, in environments.py).
FRAMEWORKS: tuple[str, ...] = tuple(ADAPTERS)
OPS: tuple[str, ...] = ("batchnorm", "dropout", "centering")

# Values any behaviour may take besides its own vocabulary.
INCONCLUSIVE = "inconclusive"  # the evidence does not separate the candidate values
NOT_MEASURED = "not_measured"  # no case that could measure it ran
# The value would come from the suite's own recipe or stand-in code, not the framework.
NOT_APPLICABLE = "not_applicable"
UNDECIDED: tuple[str, ...] = (INCONCLUSIVE, NOT_MEASURED, NOT_APPLICABLE)

# ``agrees`` column of discrepancies.csv.
AGREEMENT: tuple[str, ...] = (
    "yes",           # measured value equals the documented one
    "no",            # measured value contradicts the documentation
    "undocumented",  # nothing documented
    "untested",      # documented, but the value is inconclusive or not measured
    "unverified",    # documented by a quote no longer found in the installed docstring
    "not_applicable",  # the row's value for this behaviour is the suite's own code
    "demonstration",   # a deliberate-misuse row: the scenario, not the docs, explains it
)


class Status(str, enum.Enum):
    """Outcome of one check against the oracle."""

    PASS = "PASS"
    MISMATCH = "MISMATCH"
    ERROR = "ERROR"
    CRASH = "CRASH"
    TIMEOUT = "TIMEOUT"
    UNSUPPORTED = "UNSUPPORTED"


class RunStatus(str, enum.Enum):
    """Outcome of running one case through one implementation, before any comparison."""

    OK = "ok"
    ERROR = "error"  # the framework raised; the exception is recorded
    UNSUPPORTED = "unsupported"  # the adapter declined the case (dtype, rank, flag)
    CRASH = "crash"  # the worker process died on this case
    TIMEOUT = "timeout"  # the case ran past its time limit


@dataclass(frozen=True)
class Behaviour:
    """A named, observable property of an implementation.

    ``values`` lists the allowed categorical values; ``None`` means the value is
    numeric (a default) and is written as a short float.
    """

    name: str
    op: str
    values: tuple[str, ...] | None
    meaning: str


# Outcome vocabulary for "what happens" behaviours (batch of one, rate 0 / rate 1).
WHAT_HAPPENS: tuple[str, ...] = (
    "identity",
    "zeros",
    "nan",
    "error",
    "normalized",
    "beta",
    "other",
)

BEHAVIOURS: tuple[Behaviour, ...] = (
    # --- batch norm -----------------------------------------------------------
    Behaviour("momentum_default", "batchnorm", None,
              "default momentum argument, estimated from the first running-mean update"),
    Behaviour("momentum_convention", "batchnorm",
              ("weight_on_old", "weight_on_new", "cumulative_average"),
              "running = m*old + (1-m)*batch (weight_on_old) or (1-m)*old + m*batch"),
    Behaviour("epsilon_default", "batchnorm", None,
              "default epsilon, estimated from outputs on a channel with tiny variance"),
    Behaviour("epsilon_effective", "batchnorm", ("as_given", "clamped_to:<value>"),
              "whether a small epsilon is used as given or raised to a floor"),
    Behaviour("epsilon_placement", "batchnorm", ("inside_sqrt", "outside_sqrt", "no_sqrt"),
              "(x-m)/sqrt(v+eps), (x-m)/(sqrt(v)+eps) or (x-m)/(v+eps)"),
    Behaviour("normalize_variance", "batchnorm", ("biased", "unbiased"),
              "variance estimator used to normalize in training"),
    Behaviour("running_variance_update", "batchnorm", ("biased", "unbiased", "not_updated"),
              "variance estimator folded into the running variance"),
    Behaviour("stats_update_trigger", "batchnorm", ("forward", "backward", "never"),
              "what makes the running statistics change in a training step"),
    Behaviour("gamma_applied", "batchnorm", ("yes", "no"),
              "whether the scale parameter multiplies the output"),
    Behaviour("inference_statistics", "batchnorm", ("running", "batch"),
              "statistics used in inference mode"),
    Behaviour("batch_size_one_training", "batchnorm", WHAT_HAPPENS,
              "training-mode output for a batch of one sample with no other reduction axis"),
    Behaviour("frozen_layer_mode", "batchnorm", ("inference", "training"),
              "how a layer with trainable=False normalizes when called in training mode"),
    Behaviour("momentum_precision", "batchnorm", ("as_given", "float32", "float32_complement"),
              "on float64 inputs: the momentum applied as given, rounded to float32, or "
              "its complement 1 - momentum (TF's moving-average decay) rounded to float32"),
    Behaviour("epsilon_precision", "batchnorm", ("as_given", "float32"),
              "on float64 inputs: epsilon added as given or first rounded to float32"),
    Behaviour("stats_precision_float64", "batchnorm", ("float64", "float32"),
              "precision in which batch statistics of float64 inputs are accumulated"),
    Behaviour("stats_precision_float16", "batchnorm", ("float16", "float32"),
              "precision in which batch statistics of float16 inputs are accumulated: "
              "float16 (a running sum in float16), or float32 (as accurate as a float32 "
              "accumulator; a pairwise float16 sum can be too, and is not told apart)"),
    Behaviour("variance_computation", "batchnorm", ("two_pass", "one_pass"),
              "batch variance as the mean of squared deviations (two_pass, or Welford) or as "
              "E[x^2] - E[x]^2 (one_pass), told apart on badly conditioned inputs"),
    Behaviour("output_precision_half", "batchnorm", ("float32", "input_dtype"),
              "on float16/bfloat16 inputs: the normalized output computed in float32 and "
              "rounded once (float32), or rounded more than once, intermediate results "
              "kept in the input's dtype (input_dtype); told apart by the fraction of "
              "elements beyond half a unit in the last place"),
    Behaviour("stats_precision_bfloat16", "batchnorm", ("bfloat16", "float32"),
              "precision in which batch statistics of bfloat16 inputs are accumulated: "
              "bfloat16 (a running sum in bfloat16), or float32 (as accurate as a float32 "
              "accumulator; a pairwise bfloat16 sum can be too, and is not told apart)"),
    # --- dropout --------------------------------------------------------------
    Behaviour("rate_semantics", "dropout", ("drop_probability", "keep_probability"),
              "whether the rate argument is the probability to drop or to keep"),
    Behaviour("training_scale", "dropout", ("inverse_keep", "none"),
              "factor applied to kept elements in training"),
    Behaviour("scale_precision", "dropout", ("as_given", "float32", "float32_rate"),
              "on float64 inputs: the factor 1/(1-rate) computed in float64 or in float32, "
              "or in float64 from the rate rounded to float32 (a float32 ratio tensor)"),
    Behaviour("inference_output", "dropout", ("identity", "scaled_by_keep", "dropout_applied"),
              "output in inference mode (dropout_applied: elements are still dropped)"),
    Behaviour("rate_zero", "dropout", WHAT_HAPPENS, "training-mode output at rate 0"),
    Behaviour("rate_one", "dropout", WHAT_HAPPENS, "training-mode output at rate 1"),
    Behaviour("drop_fraction", "dropout", ("consistent", "inconsistent"),
              "dropped fraction consistent with the rate by a two-sided binomial test"),
    Behaviour("mask_sharing", "dropout",
              ("as_declared", "shared_along_extra_axes", "varies_along_shared_axes"),
              "whether the mask is independent exactly along the axes the implementation "
              "declares (elementwise, noise_shape, or whole channels)"),
    # --- centering ------------------------------------------------------------
    Behaviour("variance_normalized", "centering", ("yes", "no"),
              "whether the output is divided by a standard deviation"),
    Behaviour("offset_applied", "centering", ("yes", "no"),
              "whether a learned offset (beta) is added"),
)

BEHAVIOUR_BY_NAME: dict[str, Behaviour] = {b.name: b for b in BEHAVIOURS}

# Confidence of the binomial test behind ``drop_fraction``.
DROP_FRACTION_CONFIDENCE = 0.999

RESULTS_COLUMNS: tuple[str, ...] = (
    "framework", "framework_version", "implementation", "op", "mode", "case_id", "check",
    "status", "max_abs_err", "max_rel_err", "tolerance", "detail", "cause",
)
DISCREPANCY_COLUMNS: tuple[str, ...] = (
    "framework", "framework_version", "implementation", "op", "behaviour", "documented",
    "actual", "agrees", "evidence",
)


def behaviours_for(op: str) -> tuple[Behaviour, ...]:
    return tuple(b for b in BEHAVIOURS if b.op == op)


def is_allowed(behaviour: str, value: str) -> bool:
    """Whether ``value`` is in the vocabulary of ``behaviour`` (numeric ones take floats)."""
    b = BEHAVIOUR_BY_NAME.get(behaviour)
    if b is None:
        return False
    if value in UNDECIDED:
        return True
    if b.values is None:
        try:
            float(value)
        except ValueError:
            return False
        return True
    if value.startswith("clamped_to:") and "clamped_to:<value>" in b.values:
        try:
            float(value.split(":", 1)[1])
        except ValueError:
            return False
        return True
    return value in b.values
