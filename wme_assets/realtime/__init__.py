"""The fresh half: every change of a wiki, from its change source into the always-current article store.

``events`` is the one change event every source is normalised into (the stage's contract); the sources, the
durable event log, the applier and the hourly batches build on it.
"""
