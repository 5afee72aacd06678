"""A team's shared store: a few plain operations on keys, over an S3 bucket (`s3://bucket/prefix`) or, for one
machine and for tests, a directory. The fleet (block state, apps deploying now) and the team record (runs'
events and output, fleet/ship.py) use only these operations, so both places behave alike.

    store = open_store("s3://govuk-deploys/cd", env=os.environ)
    store.put("blocks/frontend.json", b"{...}"); store.get("blocks/frontend.json"); store.keys("runs/")
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from ..errors import UserError
from .aws import _aws_errors

STORE_ENV = "DEPLOYTUI_TEAM_STORE"


class DirStore:
    """Keys as files under a directory (a machine's own fleet state when no team store is named)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.where = str(self.root)

    def _path(self, key: str) -> Path:
        if ".." in key.split("/"):
            raise ValueError(f"bad key {key!r}")
        return self.root / key

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)  # readers see the old object or the new one, never half of one

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def get_tagged(self, key: str) -> tuple[bytes | None, str | None]:
        """The object and a tag that changes whenever it does (put_if's `tag`)."""
        data = self.get(key)
        return data, None if data is None else hashlib.sha256(data).hexdigest()

    def put_if(self, key: str, data: bytes, tag: str | None) -> bool:
        """Write only if the object is still as read (`tag`), or still absent (`tag` None): atomic."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".conditional.lock", "a") as lock:  # one conditional write at a time
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self.get_tagged(key)[1] != tag:
                return False
            self.put(key, data)
            return True

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Keys starting with `prefix`, in ascending order (as S3 lists them)."""
        base = self.root / prefix.rsplit("/", 1)[0] if "/" in prefix else self.root
        if not base.is_dir():
            return
        keys = sorted(str(p.relative_to(self.root)) for p in base.rglob("*") if p.is_file()
                      and not p.name.startswith("."))
        yield from (k for k in keys if k.startswith(prefix))

    def folders(self, prefix: str) -> list[str]:
        """The next level of names under `prefix` (which ends with "/")."""
        base = self._path(prefix.rstrip("/")) if prefix else self.root
        return sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []


class S3Store:
    """Keys as objects under a prefix of an S3 bucket. Credentials, region and endpoint (AWS_ENDPOINT_URL)
    come from `env`, as for the AWS actions."""

    def __init__(self, bucket: str, prefix: str = "", env: Mapping[str, str] | None = None, region: str = ""):
        import boto3
        from botocore.config import Config

        self.bucket, self.prefix = bucket, prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.where = f"s3://{bucket}/{self.prefix}"
        env = env if env is not None else os.environ
        # few retries and short timeouts: the shipper retries by itself, and a store that is down must never
        # hold a run (or `history --team`) for minutes
        self._s3 = boto3.client(
            "s3", endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
            region_name=region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            aws_access_key_id=env.get("AWS_ACCESS_KEY_ID") or None,
            aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
            aws_session_token=env.get("AWS_SESSION_TOKEN") or None,
            config=Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=20))

    @_aws_errors
    def get(self, key: str) -> bytes | None:
        try:
            return self._s3.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read()
        except self._s3.exceptions.NoSuchKey:
            return None

    @_aws_errors
    def put(self, key: str, data: bytes) -> None:
        self._s3.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data)

    @_aws_errors
    def delete(self, key: str) -> None:
        self._s3.delete_object(Bucket=self.bucket, Key=self.prefix + key)

    @_aws_errors
    def get_tagged(self, key: str) -> tuple[bytes | None, str | None]:
        try:
            got = self._s3.get_object(Bucket=self.bucket, Key=self.prefix + key)
        except self._s3.exceptions.NoSuchKey:
            return None, None
        return got["Body"].read(), got["ETag"]

    @_aws_errors
    def put_if(self, key: str, data: bytes, tag: str | None) -> bool:
        """S3's conditional writes (If-None-Match: * creates, If-Match replaces what was read): atomic."""
        from botocore.exceptions import ClientError

        cond = {"IfNoneMatch": "*"} if tag is None else {"IfMatch": tag}
        try:
            self._s3.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data, **cond)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict",
                                                           "NoSuchKey", "412", "409"):
                return False
            raise
        return True

    @_aws_errors
    def keys(self, prefix: str = "") -> Iterator[str]:
        pages = self._s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix + prefix)
        for page in pages:
            for obj in page.get("Contents", []):
                yield obj["Key"][len(self.prefix):]

    @_aws_errors
    def folders(self, prefix: str) -> list[str]:
        pages = self._s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix + prefix,
                                                                    Delimiter="/")
        return [p["Prefix"][len(self.prefix + prefix):].rstrip("/") for page in pages
                for p in page.get("CommonPrefixes", [])]


Store = DirStore | S3Store


def open_store(url: str, env: Mapping[str, str] | None = None) -> Store:
    """`s3://bucket/prefix` or a directory."""
    if url.startswith("s3://"):
        bucket, _, prefix = url[5:].partition("/")
        if not bucket:
            raise UserError(f"{url}: name the bucket (s3://BUCKET/PREFIX)", 2)
        return S3Store(bucket, prefix, env)
    if "://" in url:
        raise UserError(f"{url}: a team store is s3://BUCKET/PREFIX or a directory", 2)
    return DirStore(Path(url))
