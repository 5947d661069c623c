"""Reaching AWS: boto3 clients for one connection (region, profile or assumed role, endpoint), and the
translation of botocore's errors into one line a person can act on.

boto3 is imported here, on first use, so that chaosrunner runs (and validates AWS experiments) without
the ``aws`` extra; a fault planned without it is refused with the command that installs it.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from chaosrunner.errors import PlanError

T = TypeVar("T")

INSTALL_HINT = "pip install 'chaosrunner[aws]' (boto3)"
SESSION_NAME = "chaosrunner"


def boto3_module() -> Any:
    """boto3, or a PlanError saying how to install it."""
    try:
        import boto3
    except ImportError:
        raise PlanError("the aws driver needs boto3, which is not installed", hint=INSTALL_HINT) from None
    return boto3


class Connection:
    """Clients of one AWS connection (``AwsHandle.connection()``), made once each.

    Calls time out (connect 5 s, read 20 s) and are retried at most twice by botocore's standard
    mode: a fault's inject has its own timeout, and a probe's sample must end within its own.
    """

    def __init__(self, conn: dict[str, Any], read_timeout: float = 20.0):
        self.conn = conn
        self.read_timeout = read_timeout
        self._session: Any = None
        self._clients: dict[str, Any] = {}

    def _config(self) -> Any:
        from botocore.config import Config

        return Config(connect_timeout=min(5.0, self.read_timeout), read_timeout=self.read_timeout,
                      retries={"max_attempts": 3, "mode": "standard"}, user_agent_appid="chaosrunner")

    def session(self) -> Any:
        if self._session is None:
            boto3 = boto3_module()
            base = boto3.Session(profile_name=self.conn.get("profile"), region_name=self.conn["region"])
            role = self.conn.get("role_arn")
            if role:
                sts = base.client("sts", endpoint_url=self.conn.get("endpoint_url"), config=self._config())
                creds = sts.assume_role(RoleArn=role, RoleSessionName=SESSION_NAME)["Credentials"]
                base = boto3.Session(aws_access_key_id=creds["AccessKeyId"],
                                     aws_secret_access_key=creds["SecretAccessKey"],
                                     aws_session_token=creds["SessionToken"], region_name=self.conn["region"])
            self._session = base
        return self._session

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session().client(service, endpoint_url=self.conn.get("endpoint_url"),
                                                           config=self._config())
        return self._clients[service]

    def close(self) -> None:
        for c in self._clients.values():
            try:
                c.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass
        self._clients.clear()


def error_code(exc: BaseException) -> str:
    """A botocore ClientError's code (``InvalidInstanceID.NotFound``), else ''."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def describe_error(exc: BaseException) -> str:
    """One line for any botocore error: its code and message, or what kind of failure it is."""
    code = error_code(exc)
    if code:
        message = getattr(exc, "response", {}).get("Error", {}).get("Message", "")
        return f"{code}: {message}" if message else code
    name = type(exc).__name__
    hints = {"NoCredentialsError": "no AWS credentials found (environment, profile or instance role)",
             "ProfileNotFound": str(exc), "EndpointConnectionError": str(exc),
             "ConnectTimeoutError": str(exc), "ReadTimeoutError": str(exc), "NoRegionError": str(exc)}
    return hints.get(name, f"{name}: {exc}")


def is_botocore_error(exc: BaseException) -> bool:
    return type(exc).__module__.startswith(("botocore", "boto3"))


def wait_for(what: str, check: Callable[[], T | None], budget: float, *, first: float = 0.1,
             longest: float = 2.0) -> T:
    """Poll ``check`` until it returns something other than None (returned), for ``budget`` seconds at most;
    TimeoutError naming ``what`` after that. The pause grows from ``first`` to ``longest``."""
    deadline = time.monotonic() + budget
    pause = first
    while True:
        got = check()
        if got is not None:
            return got
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} not seen within {budget:g}s")
        time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(longest, pause * 2)


def tag_filters(filters: dict[str, str | list[str]]) -> list[dict[str, Any]]:
    """EC2's ``Filters`` for tags: ``{app: web}`` → ``[{Name: tag:app, Values: [web]}]``."""
    return [{"Name": f"tag:{k}", "Values": [v] if isinstance(v, str) else list(v)} for k, v in filters.items()]


def tags_match(tags: dict[str, str], filters: dict[str, str | list[str]]) -> bool:
    """A resource's tags carry every filter key with one of its values."""
    return all(k in tags and tags[k] in ([v] if isinstance(v, str) else v) for k, v in filters.items())


def tag_dict(items: Iterable[dict[str, Any]] | None) -> dict[str, str]:
    """``[{Key: k, Value: v}]`` → ``{k: v}``."""
    return {t["Key"]: t.get("Value", "") for t in items or []}
