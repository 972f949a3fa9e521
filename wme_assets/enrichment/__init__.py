"""Enrichment: the Wikimedia Enterprise article schema (:mod:`.schema`) and the stages that fill it."""
