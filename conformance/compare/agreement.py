"""The ``agrees`` column: how a measured value stands against its documentation.

One function decides it for the CSV table, the HTML matrix and the expectations
gate, so the three never disagree. The order of the rules matters:

1. a value that comes from the suite's own recipe or stand-in code
   (``not_applicable``) says nothing about the framework, documented or not;
2. nothing documented is ``undocumented``;
3. a quote that is no longer in the installed docstring is ``unverified``: the
   documentation it stood for may have changed, so it must not decide yes/no;
4. a documented value that was not measured (inconclusive, not measured) is
   ``untested``;
5. otherwise the values are compared (numeric defaults within 1%); a mismatch
   on a deliberate-misuse row (a demonstration scenario) is ``demonstration``,
   since the scenario, not the documentation, explains it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conformance.spec import BEHAVIOUR_BY_NAME, INCONCLUSIVE, NOT_APPLICABLE, NOT_MEASURED

# The values of spec.AGREEMENT this module returns (tests check the two agree).
YES, NO, UNDOCUMENTED, UNTESTED, UNVERIFIED, DEMONSTRATION = (
    "yes", "no", "undocumented", "untested", "unverified", "demonstration")

# Numeric defaults are estimated from outputs; 1% separates every pair of
# defaults in use (0.1 vs 0.01, 1e-3 vs 1e-5) while absorbing estimation noise.
NUMERIC_RTOL = 0.01


def same_value(behaviour: str, expected: str, actual: str) -> bool:
    """Exact for categorical behaviours; numeric ones (defaults) agree within 1%."""
    if expected == actual:
        return True
    b = BEHAVIOUR_BY_NAME.get(behaviour)
    if b is None or b.values is not None:
        return False
    try:
        e, a = float(expected), float(actual)
    except ValueError:
        return False
    return abs(e - a) <= NUMERIC_RTOL * max(abs(e), 1e-12)


def agreement(behaviour: str, documented: str | None, actual: str, *,
              verified: bool | None = True, demonstration: str = "") -> str:
    """One value of :data:`spec.AGREEMENT` (see the module docstring for the rules).

    ``verified`` is the claim's own flag: ``False`` when its quote is missing
    from the installed docstring, ``None`` for a web-only source (still trusted).
    ``demonstration`` is the scenario of a deliberate-misuse row, empty otherwise.
    """
    if actual == NOT_APPLICABLE:
        return NOT_APPLICABLE
    if not documented:
        return UNDOCUMENTED
    if verified is False:
        return UNVERIFIED
    if actual in (INCONCLUSIVE, NOT_MEASURED):
        return UNTESTED
    if same_value(behaviour, documented, actual):
        return YES
    return DEMONSTRATION if demonstration else NO


def doc_agreement(behaviour: str, doc: Mapping[str, Any] | None, actual: str,
                  demonstration: str = "") -> str:
    """:func:`agreement` from a claim record as the worker writes it (``value``, ``verified``)."""
    if doc is None:
        return agreement(behaviour, None, actual, demonstration=demonstration)
    return agreement(behaviour, str(doc["value"]), actual, verified=doc.get("verified", True),
                     demonstration=demonstration)
