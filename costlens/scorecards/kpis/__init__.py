"""One module per KPI; ``costlens.scorecards.registry`` lists them in order."""
