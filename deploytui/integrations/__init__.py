"""Native actions: aws (boto3), git (GitPython), github (PyGithub), gitlab, http and slack (httpx).

`registry.registry()` loads them all (each module registers its actions with `@action`)."""

import importlib


def load_all() -> None:
    for name in ("shell", "aws", "git", "github", "gitlab", "http", "slack"):
        importlib.import_module(f"{__name__}.{name}")
