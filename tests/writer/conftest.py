"""Real stores for the writer tests: a scriptable HTTP key-value store and a Redis server."""
from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest

from support import free_port
from writer.kvstore import KvStore

REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"


@pytest.fixture
def kv():
    store = KvStore().start()
    yield store
    store.stop()


class RedisServer:
    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> RedisServer:
        self.proc = subprocess.Popen([REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def redis_server():
    if not shutil.which("redis-server") and not shutil.os.path.exists(REDIS):
        pytest.skip("redis-server is not installed")
    server = RedisServer().start()
    yield server
    server.kill()
