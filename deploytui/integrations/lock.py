"""A run lock shared across machines: one DynamoDB item per runbook+environment, taken with a
conditional write, so two release managers on different hosts cannot deploy the same thing at once.

    lock = DynamoLock("deploytui-locks", "login-gov-idp:prod")
    lock.acquire("alice", "RC 124")      # ActionError naming the holder if someone has it
    lock.release("alice")
"""

from __future__ import annotations

import socket
import time
from types import SimpleNamespace

from ..errors import ActionError
from .aws import _aws_errors, _client

KEY = "lock_key"


class DynamoLock:
    def __init__(self, table: str, key: str, region: str = "", env: dict[str, str] | None = None,
                 clock=time.time):
        self.table, self.key, self.clock = table, key, clock
        self._ctx = SimpleNamespace(env=dict(env or {}))  # what aws._client reads credentials from
        self.region = region

    def _ddb(self):
        return _client(self._ctx, "dynamodb", self.region)

    @_aws_errors
    def holder(self) -> dict | None:
        """Who holds the lock: {holder, host, since, reason}, or None."""
        item = self._ddb().get_item(TableName=self.table, Key={KEY: {"S": self.key}}, ConsistentRead=True).get("Item")
        if not item:
            return None
        return {k: (v.get("S") if "S" in v else float(v["N"])) for k, v in item.items() if k != KEY}

    @_aws_errors
    def acquire(self, holder: str, reason: str = "", force: bool = False) -> dict | None:
        """Take the lock; with force, take it whoever has it and return the previous holder."""
        ddb = self._ddb()
        item = {KEY: {"S": self.key}, "holder": {"S": holder}, "host": {"S": socket.gethostname()},
                "since": {"N": str(self.clock())}, "reason": {"S": reason or "-"}}
        if force:
            before = self.holder()
            ddb.put_item(TableName=self.table, Item=item)
            return before
        try:
            ddb.put_item(TableName=self.table, Item=item,
                         ConditionExpression=f"attribute_not_exists({KEY}) OR holder = :me",
                         ExpressionAttributeValues={":me": {"S": holder}})
        except ddb.exceptions.ConditionalCheckFailedException:
            h = self.holder() or {}
            since = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(h.get("since", 0)))
            raise ActionError(f"{self.key} is locked by {h.get('holder')} on {h.get('host')} since {since} "
                              f"({h.get('reason')}): wait for them, or break the lock with a reason") from None
        return None

    @_aws_errors
    def release(self, holder: str) -> bool:
        """Give the lock back; False when `holder` did not hold it (it was broken, or never taken)."""
        ddb = self._ddb()
        try:
            ddb.delete_item(TableName=self.table, Key={KEY: {"S": self.key}}, ConditionExpression="holder = :me",
                            ExpressionAttributeValues={":me": {"S": holder}})
        except ddb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    @_aws_errors
    def create_table(self) -> None:
        """The table the lock needs (sandbox and first-time set-up); nothing if it exists."""
        ddb = self._ddb()
        try:
            ddb.create_table(TableName=self.table, BillingMode="PAY_PER_REQUEST",
                             AttributeDefinitions=[{"AttributeName": KEY, "AttributeType": "S"}],
                             KeySchema=[{"AttributeName": KEY, "KeyType": "HASH"}])
        except ddb.exceptions.ResourceInUseException:
            pass
