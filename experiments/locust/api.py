"""Locust profile for the demo API (and the same API on docker-compose): the seed's fleet traffic.

Run by chaosrunner as a subprocess (``load: {locustfile: locust/api.py, ...}``), or by hand:
    locust -f experiments/locust/api.py --headless -H http://127.0.0.1:18080 -u 50 -r 10 -t 1m
Reads dominate (GET configs), then writes, health checks and the fleet status that depends on
the external service. Every user writes and reads its own keys, so a 404 on a key it wrote is a
real error (a lost write), while a 404 on a key never written is expected and not counted.
"""
from __future__ import annotations

import itertools
import random

from locust import FastHttpUser, between, task

_user_ids = itertools.count()


class ApiUser(FastHttpUser):
    wait_time = between(0.05, 0.2)

    def on_start(self) -> None:
        self.uid = next(_user_ids)
        self.written: list[str] = []
        self.put_config()

    @task(10)
    def get_config(self) -> None:
        if not self.written:
            return self.put_config()
        key = random.choice(self.written)
        with self.client.get(f"/configs/{key}", name="/configs/[key]", catch_response=True) as resp:
            if resp.status_code == 404:
                resp.failure(f"config {key} was acknowledged but is missing")

    @task(3)
    def put_config(self) -> None:
        key = f"locust-{self.uid}-{random.randrange(50)}"
        resp = self.client.put(f"/configs/{key}", data=f"route: {random.random()}", name="/configs/[key] PUT")
        if resp.status_code == 200 and key not in self.written:
            self.written.append(key)

    @task(2)
    def health(self) -> None:
        self.client.get("/health")

    @task(2)
    def fleet_status(self) -> None:
        self.client.get("/fleet/status")
