"""Test-only: a process started with this directory on PYTHONPATH and CHAOSRUNNER_TEST_KILL_AFTER=<AWS
operation> (``StopInstances``) kills itself with SIGKILL as soon as that boto3 call has returned — a
`kill -9` at an exact point in the middle of a fault's inject, after its change and before its handle
is written to the ledger."""
import os

_OPERATION = os.environ.get("CHAOSRUNNER_TEST_KILL_AFTER")

if _OPERATION:
    import signal

    import botocore.client

    _call = botocore.client.BaseClient._make_api_call

    def _make_api_call(self, operation_name, api_params):  # type: ignore[no-untyped-def]
        result = _call(self, operation_name, api_params)
        if operation_name == _OPERATION:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    botocore.client.BaseClient._make_api_call = _make_api_call
