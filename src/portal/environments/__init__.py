"""Environments and their parameter mappings: configuration, ARM parameter files, catalogue, validation,
rendering, and edits saved as Git commits."""
