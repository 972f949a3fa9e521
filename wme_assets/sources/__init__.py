"""Sources of Wikimedia data: the dumps site (or a local mirror of it) and the data wme reads from it."""
