"""Bug hunt: draw configurations far beyond the default matrix, judge them by two
oracles (each implementation's own measured conventions, and equivalent forms of one
framework), shrink what fails and write it up, one Markdown report per root cause.

Pipeline: ``sampler`` (cases as data) -> ``inputs`` (materialize, with poisoned values)
-> workers (``conformance.orchestrate``) -> ``oracles`` and ``pairs`` (findings) ->
``shrink`` -> ``group`` and ``known`` -> ``markdown``; ``main`` drives it on a budget.
"""
