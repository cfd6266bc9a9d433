"""A repository's `.github/petrel.yml`: its schema, path globs, safe parsing and validation, and loading with fallbacks and `_extends`."""
