"""The app's named SQL queries, shipped inside the ``tododb`` package as ``tododb._sql`` (see pyproject.toml)."""
