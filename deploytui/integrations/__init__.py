"""Native actions. Importing this package registers them (see engine.actions.registry)."""

import importlib

for _name in ("shell", "aws", "git", "github", "http", "slack"):
    importlib.import_module(f"{__name__}.{_name}")
