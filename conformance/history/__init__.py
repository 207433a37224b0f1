"""Behaviour history across releases: ``nox -s history -- 'keras>=3.0'``.

The upgrade check compares two versions; a team several releases behind, or a
maintainer asking *when* a behaviour changed, needs every release in between. The
pipeline, one module per step:

- ``request``  what was asked (package ranges, lists of versions, packages that move
  together) and which releases of it the configured index has;
- ``store``    one entry per release: its key (pins, suite version, case set), the
  companions it was paired with, and how it ended (ran, or why it could not);
- ``install``  one uv environment per release, companions chosen by the resolver under
  upper bounds (the newest that resolve with the release);
- ``runner``   releases in parallel, each run by the orchestrator (isolation, timeouts,
  progress) exactly as the main run;
- ``changes``  the tidy table (one value per release, implementation and behaviour) and
  the change points between consecutive releases;
- ``report``   the CSVs, the HTML timeline and the terminal list.

Nothing here imports a framework: the runs happen in each release's own environment.
"""
