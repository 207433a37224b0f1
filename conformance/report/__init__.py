"""Reports: pure functions of the analysis, written atomically."""
