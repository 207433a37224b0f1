"""Meta-tests of the behaviour inference (issue 10 item 8; cf. array-api-tests' meta_tests/).

``planted.py`` holds NumPy batch norm, centering and dropout rows, written apart
from the oracle, whose conventions are fields; ``plants.py`` lists the plants
(one changed field each) with the value the inference must report. One
session fixture (``conftest.py``) materializes the default case set, runs every
plant as one implementation row of one run (the worker's own ``run_one``),
and analyses it with ``compare.analyze``.

Adding a plant: a knob in ``planted.py`` if none fits, then a ``Plant`` row.
A plant the inference cannot handle yet gets an ``xfail_*`` reason naming what
is missing; the xfails are strict, so the fix shows up as XPASS and the reason
is then removed.
"""
