"""The AWS tests run against moto in server mode on loopback, never an AWS account.

One moto server per test module (``ThreadedMotoServer`` on 127.0.0.1, port chosen by the kernel),
emptied before each test; real boto3 clients — the test's and those of the ``chaosrunner`` processes
it starts — reach it over HTTP through ``endpoint_url``. The credentials are fake, the AWS config
files point at empty files and instance metadata is off, so nothing can fall back to a real account.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from world import World, reset  # noqa: E402


@pytest.fixture(scope="module")
def moto_url():
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)     # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(autouse=True)
def fake_aws(monkeypatch, tmp_path_factory):
    """Fake credentials and empty config files for this process and the chaosrunner processes it starts."""
    empty = tmp_path_factory.mktemp("awsconfig") / "empty"
    empty.write_text("")
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "eu-west-1",
                       "AWS_CONFIG_FILE": str(empty), "AWS_SHARED_CREDENTIALS_FILE": str(empty),
                       "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def world(moto_url) -> World:
    reset(moto_url)
    return World(moto_url).build()
