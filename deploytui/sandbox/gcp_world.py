"""Vetspire's Google Cloud for the rehearsal world: Cloud SQL instances and their clones, and the
vetspire-api deployment on the production cluster, served under /_world/gcp/ to the world's `gcloud`
and `kubectl` (tools.py), played by the world's rules (rules.py).

A production deployment is what GitHub Actions runs when `production` is pushed (the world's GitHub
calls `deployed(sha, ok)` when that run finishes); `kubectl apply` changes the image by hand."""

from __future__ import annotations

import re
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

from . import rules
from .clock import WorldClock


@dataclass
class Rollout:
    image: str
    sha: str  # the commit the image was built from
    at: float  # world-clock reading when it began
    crashes: bool = False


@dataclass
class GcpWorld:
    project: str = "vetspire-app"
    clock: WorldClock = field(default_factory=WorldClock)
    faults: frozenset[str] = frozenset()
    instances: dict[str, dict] = field(default_factory=dict)  # name -> {"created": t, "ready_at": t, "clone_of": ..}
    rollouts: list[Rollout] = field(default_factory=list)  # newest last
    bad_shas: list[str] = field(default_factory=list)  # pods-down: releases whose pods crash
    applied: list[int] = field(default_factory=list)  # production deployment runs rolled out
    _lock: threading.RLock = field(default_factory=threading.RLock)

    # -- state ----------------------------------------------------------------------------------
    def seed(self, production: str, dates: list[str], sha: str) -> None:
        long_ago = self.clock.now() - 86400 * 30
        self.instances[production] = {"created": long_ago, "ready_at": long_ago, "clone_of": ""}
        for d in dates:
            name = f"{production}-clone-{d}"
            self.instances[name] = {"created": long_ago, "ready_at": long_ago, "clone_of": production}
        self.rollouts.append(Rollout(rules.VETSPIRE_IMAGE, sha, long_ago))

    def deployed(self, sha: str) -> None:
        """The production deployment workflow rolled `sha` out as :release (its pods crash if it is bad)."""
        with self._lock:
            self.rollouts.append(Rollout(rules.VETSPIRE_IMAGE, sha, self.clock.now(), sha in self.bad_shas))

    def snapshot(self) -> dict:
        with self._lock:
            return {"instances": self.instances, "rollouts": [asdict(r) for r in self.rollouts],
                    "bad_shas": self.bad_shas, "applied": self.applied}

    def restore(self, state: dict) -> None:
        with self._lock:
            self.instances = dict(state["instances"])
            self.rollouts = [Rollout(**r) for r in state["rollouts"]]
            self.bad_shas, self.applied = list(state["bad_shas"]), list(state["applied"])

    # -- the API the world's tools call ------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple:
        with self._lock:
            if path == "sql/instances" and method == "GET":
                now = self.clock.now()
                return 200, [{"name": n, "state": "RUNNABLE" if i["ready_at"] <= now else "PENDING_CREATE"}
                             for n, i in sorted(self.instances.items())]
            m = re.fullmatch(r"sql/instances/([^/]+)", path)
            if m and method == "POST":  # clone
                return self._clone(m.group(1), str((body or {}).get("source", "")))
            if m and method == "GET":
                i = self.instances.get(m.group(1))
                if i is None:
                    return 404, {"error": "The Cloud SQL instance does not exist."}
                return 200, {"name": m.group(1), "ready_at": i["ready_at"], "now": self.clock.now(),
                             "scale": self.clock.scale}
            if m and method == "DELETE":
                if self.instances.pop(m.group(1), None) is None:
                    return 404, {"error": "The Cloud SQL instance does not exist."}
                return 200, {"deleted": m.group(1)}
            if path == "k8s/pods" and method == "GET":
                return 200, {"pods": self.pods()}
            if path == "k8s/apply" and method == "POST":
                return self._apply(str((body or {}).get("manifest", "")))
            return 404, {"error": f"the rehearsal world's Google Cloud has no {method} {path}"}

    def _clone(self, dest: str, source: str) -> tuple:
        if source not in self.instances:
            return 404, {"error": f"The Cloud SQL instance {source} does not exist."}
        if dest in self.instances:
            return 409, {"error": f"The Cloud SQL instance already exists. ({dest})"}
        seconds = 1800 if "slow-clone" in self.faults else rules.CLONE_SECONDS
        now = self.clock.now()
        self.instances[dest] = {"created": now, "ready_at": self.clock.at(now, seconds), "clone_of": source}
        return 200, {"name": dest, "ready_at": self.instances[dest]["ready_at"], "now": now,
                     "scale": self.clock.scale}

    def _apply(self, manifest: str) -> tuple:
        m = re.search(r"^\s*image:\s*(\S+)", manifest, re.MULTILINE)
        if not m or "kind: Deployment" not in manifest:
            return 422, {"error": "error: no objects passed to apply"}
        image = m.group(1)
        current = self.rollouts[-1]
        if image == current.image:
            return 200, {"out": "deployment.apps/vetspire-api unchanged"}
        pinned = re.fullmatch(re.escape(rules.VETSPIRE_IMAGE) + r"-([0-9a-f]{7,40})", image)
        if pinned:
            sha = pinned.group(1)
            crashes = any(b.startswith(sha) or sha.startswith(b) for b in self.bad_shas)
        elif image == rules.VETSPIRE_IMAGE:
            sha = next((r.sha for r in reversed(self.rollouts) if r.image == image), current.sha)
            crashes = sha in self.bad_shas
        else:  # an image the registry does not have
            sha, crashes = "", True
        self.rollouts.append(Rollout(image, sha, self.clock.now(), crashes))
        return 200, {"out": "deployment.apps/vetspire-api configured"}

    def pods(self) -> list[dict]:
        """Three replicas of the newest rollout (the previous one's while it rolls out)."""
        new = self.rollouts[-1]
        age = self.clock.since(new.at)
        rows = []
        suffix = f"{abs(hash((new.image, new.at))) % 16**9:09x}"
        for k in range(3):
            name = f"vetspire-api-{suffix}-{('2kq4x', '7wvbz', 'p9m2t')[k]}"
            if new.crashes:
                restarts = int(max(0.0, age - 20) // 60)
                status = "CrashLoopBackOff" if age > 20 else "ContainerCreating"
                rows.append({"name": name, "ready": "0/1", "status": status, "restarts": restarts, "age": age,
                             "image": new.image, "node": f"gke-vetspire-api-prod-pool-{k}"})
            elif age < rules.ROLLOUT_SECONDS * (k + 1) / 3:
                status = "ContainerCreating" if age < rules.ROLLOUT_SECONDS * k / 3 + 15 else "Running"
                ready = "0/1" if status != "Running" else "1/1"
                rows.append({"name": name, "ready": ready, "status": status, "restarts": 0, "age": age,
                             "image": new.image, "node": f"gke-vetspire-api-prod-pool-{k}"})
            else:
                rows.append({"name": name, "ready": "1/1", "status": "Running", "restarts": 0, "age": age,
                             "image": new.image, "node": f"gke-vetspire-api-prod-pool-{k}"})
        return rows
