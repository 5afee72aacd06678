"""Local git remotes for rehearsals and tests: a bare `origin` whose history carries login.gov-style
`changelog:` lines, branches main and stages/prod, and a clone to work in."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

# (branch, subject, body) merged into main as pull requests, in order. stages/prod is cut after the first.
PULLS = [
    ("phone-format", "Format international phone numbers",
     "changelog: Bug Fixes, Phone, Format international phone numbers correctly"),
    ("ipp-copy", "Clarify the in-person proofing barcode page",
     "changelog: User-Facing Improvements, In-person proofing, Clarify the barcode page"),
    ("bump-rubocop", "Bump rubocop to 1.68", "[skip changelog]"),
    ("redis-sessions", "Move the session store to Redis 7",
     "changelog: Internal, Sessions, Move the session store to Redis 7"),
    ("passkeys", "Passkeys behind a feature flag",
     "changelog: Upcoming Features, Authentication, Add passkeys behind a feature flag"),
    ("typo", "Fix a typo in a comment", ""),  # no changelog line: reported as missing
    ("bad-category", "Tidy the account page", "changelog: Improvements, Account, Tidy the account page"),
]


@dataclass
class GitWorld:
    root: Path
    origin: Path
    clone: Path
    prod_sha: str = ""  # what stages/prod points at
    main_sha: str = ""
    merges: dict[str, str] = field(default_factory=dict)  # PR branch -> merge commit sha on main


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "Release Bot", "GIT_AUTHOR_EMAIL": "release@example.gov",
           "GIT_COMMITTER_NAME": "Release Bot", "GIT_COMMITTER_EMAIL": "release@example.gov",
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def make_git_world(root: str | Path) -> GitWorld:
    """Lay out ROOT/origin.git (bare) and ROOT/identity-idp (a clone with user name/email set)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    origin, work = root / "origin.git", root / "seed"
    _git(root, "init", "-q", "--bare", "-b", "main", str(origin))
    _git(root, "init", "-q", "-b", "main", str(work))
    (work / "README.md").write_text("# identity-idp\n")
    _git(work, "add", "README.md")
    _git(work, "commit", "-q", "-m", "Initial commit")
    world = GitWorld(root=root, origin=origin, clone=root / "identity-idp")
    for n, (branch, subject, body) in enumerate(PULLS):
        _git(work, "checkout", "-q", "-b", branch, "main")
        path = work / f"{branch}.txt"
        path.write_text(f"{subject}\n")
        _git(work, "add", path.name)
        _git(work, "commit", "-q", "-m", f"{subject}\n\n{body}".strip())
        _git(work, "checkout", "-q", "main")
        _git(work, "merge", "-q", "--no-ff", branch, "-m", f"Merge pull request #{101 + n} from 18F/{branch}")
        world.merges[branch] = _git(work, "rev-parse", "HEAD")
        if n == 0:
            _git(work, "branch", "stages/prod")
    _git(work, "remote", "add", "origin", str(origin))
    _git(work, "push", "-q", "origin", "main", "stages/prod")
    world.prod_sha = _git(work, "rev-parse", "stages/prod")
    world.main_sha = _git(work, "rev-parse", "main")
    _git(root, "clone", "-q", str(origin), str(world.clone))
    _git(world.clone, "config", "user.name", "Release Manager")
    _git(world.clone, "config", "user.email", "rm@example.gov")
    return world
