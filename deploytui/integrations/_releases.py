"""Release numbering shared by GitHub and GitLab: login.gov's `RC N` (full) and `RC N.M` (patch)."""

from __future__ import annotations

import re

from ..errors import ActionError


def next_rc(names: list[tuple[str, str]], patch: bool, prefix: str, where: str) -> dict:
    """(release name, tag) pairs -> the next full (N+1) or patch (N.M+1) number after the highest."""
    pattern = re.compile(rf"^\s*{re.escape(prefix)}\s+(\d+)(?:\.(\d+))?\s*$", re.IGNORECASE)
    versions = []
    for name, tag in names:
        m = pattern.match(name or "") or pattern.match(tag or "")
        if m:
            versions.append((int(m.group(1)), int(m.group(2) or 0)))
    if not versions:
        raise ActionError(f"no `{prefix} N` release in {where}: give the release number by hand")
    major, minor = max(versions)
    last = f"{major}.{minor}" if minor else str(major)
    nxt = f"{major}.{minor + 1}" if patch else str(major + 1)
    return {"number": nxt, "title": f"{prefix} {nxt}", "last": last}
