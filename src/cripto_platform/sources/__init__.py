"""Connectors to outside systems and the seeded sample-data generators used without them."""
