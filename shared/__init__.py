"""Petrel's shared library: small modules, one concern each, imported only where needed."""
