"""The DynamoDB run lock on moto's server: conditional writes decide who deploys."""

from __future__ import annotations

import pytest

from deploytui.errors import ActionError
from deploytui.integrations.lock import DynamoLock


def test_one_holder_at_a_time(world):
    alice = DynamoLock("deploytui-locks", "login-gov-idp:prod", env=world.env, clock=lambda: 1795420800.0)
    bob = DynamoLock("deploytui-locks", "login-gov-idp:prod", env=world.env)
    alice.create_table()
    assert alice.acquire("alice", "RC 124") is None
    assert alice.acquire("alice", "RC 124 again") is None  # re-entrant for the same holder
    with pytest.raises(ActionError, match=r"login-gov-idp:prod is locked by alice on .* since 2026-11-23 08:00 UTC "
                                          r"\(RC 124 again\): wait for them, or break the lock"):
        bob.acquire("bob", "RC 125")
    assert DynamoLock("deploytui-locks", "login-gov-idp:staging", env=world.env).acquire("bob") is None
    assert bob.release("bob") is False and bob.holder()["holder"] == "alice"
    assert bob.acquire("bob", "alice is on leave", force=True)["holder"] == "alice"
    assert alice.release("alice") is False  # broken: alice no longer holds it
    assert bob.release("bob") is True and bob.holder() is None


def test_missing_table_is_one_line(world):
    with pytest.raises(ActionError, match="AWS GetItem failed: ResourceNotFoundException"):
        DynamoLock("nope", "x", env=world.env).holder()
