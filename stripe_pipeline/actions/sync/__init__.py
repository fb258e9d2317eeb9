"""The machinery behind an action's public methods, one module per job (see ../mixins.py)."""
