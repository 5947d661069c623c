"""A loopback stub of the part of the RDS API the AWS driver calls, in its own wire format (the Query
protocol: form-encoded POSTs, XML answers), because moto's RebootDBInstance changes nothing — no
``rebooting`` status, no failover to the standby's zone — so a fault on it could show no effect.

It answers DescribeDBInstances (one instance by identifier, or all) and RebootDBInstance (with
ForceFailover) for Multi-AZ instances: a reboot makes the instance ``rebooting`` for ``reboot_seconds``;
with failover its zone and its standby's are swapped when it is ``available`` again. An unknown
identifier gets AWS's DBInstanceNotFound (HTTP 404). Real boto3 talks to it over HTTP on 127.0.0.1.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

NS = "http://rds.amazonaws.com/doc/2014-10-31/"


@dataclass
class DbInstance:
    ident: str
    zone: str
    standby: str
    tags: dict[str, str] = field(default_factory=dict)
    multi_az: bool = True
    rebooting_until: float = 0.0
    failing_over: bool = False
    reboots: int = 0

    def settle(self) -> None:
        if self.rebooting_until and time.monotonic() >= self.rebooting_until:
            self.rebooting_until = 0.0
            if self.failing_over:
                self.zone, self.standby, self.failing_over = self.standby, self.zone, False

    @property
    def status(self) -> str:
        self.settle()
        return "rebooting" if self.rebooting_until else "available"

    def xml(self) -> str:
        tags = "".join(f"<Tag><Key>{escape(k)}</Key><Value>{escape(v)}</Value></Tag>" for k, v in self.tags.items())
        return (f"<DBInstance><DBInstanceIdentifier>{escape(self.ident)}</DBInstanceIdentifier>"
                f"<DBInstanceClass>db.t3.micro</DBInstanceClass><Engine>postgres</Engine>"
                f"<DBInstanceStatus>{self.status}</DBInstanceStatus><MultiAZ>{str(self.multi_az).lower()}</MultiAZ>"
                f"<AvailabilityZone>{self.zone}</AvailabilityZone>"
                f"<SecondaryAvailabilityZone>{self.standby}</SecondaryAvailabilityZone>"
                f"<DBInstanceArn>arn:aws:rds:eu-west-1:123456789012:db:{escape(self.ident)}</DBInstanceArn>"
                f"<TagList>{tags}</TagList></DBInstance>")


class RdsStub:
    def __init__(self, reboot_seconds: float = 1.0):
        self.reboot_seconds = reboot_seconds
        self.instances: dict[str, DbInstance] = {}
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                params = {k: v[0] for k, v in parse_qs(body).items()}
                status, xml = stub.answer(params)
                data = xml.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add(self, ident: str, zone: str = "eu-west-1a", standby: str = "eu-west-1b", multi_az: bool = True,
            **tags: str) -> DbInstance:
        self.instances[ident] = DbInstance(ident, zone, standby, dict(tags), multi_az)
        return self.instances[ident]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, params: dict[str, str]) -> tuple[int, str]:
        action = params.get("Action", "")
        with self.lock:
            ident = params.get("DBInstanceIdentifier")
            if ident is not None and ident not in self.instances:
                return 404, (f'<ErrorResponse xmlns="{NS}"><Error><Type>Sender</Type><Code>DBInstanceNotFound</Code>'
                             f"<Message>DBInstance {escape(ident)} not found.</Message></Error>"
                             "<RequestId>stub</RequestId></ErrorResponse>")
            if action == "DescribeDBInstances":
                chosen = [self.instances[ident]] if ident else list(self.instances.values())
                return 200, (f'<DescribeDBInstancesResponse xmlns="{NS}"><DescribeDBInstancesResult><DBInstances>'
                             + "".join(d.xml() for d in chosen)
                             + "</DBInstances></DescribeDBInstancesResult><ResponseMetadata><RequestId>stub"
                             "</RequestId></ResponseMetadata></DescribeDBInstancesResponse>")
            if action == "RebootDBInstance" and ident:
                d = self.instances[ident]
                if d.status != "available":
                    return 400, (f'<ErrorResponse xmlns="{NS}"><Error><Type>Sender</Type>'
                                 "<Code>InvalidDBInstanceState</Code><Message>DB instance is not available"
                                 "</Message></Error><RequestId>stub</RequestId></ErrorResponse>")
                d.rebooting_until = time.monotonic() + self.reboot_seconds
                d.failing_over = params.get("ForceFailover") == "true"
                d.reboots += 1
                return 200, (f'<RebootDBInstanceResponse xmlns="{NS}"><RebootDBInstanceResult>{d.xml()}'
                             "</RebootDBInstanceResult><ResponseMetadata><RequestId>stub</RequestId>"
                             "</ResponseMetadata></RebootDBInstanceResponse>")
        return 400, (f'<ErrorResponse xmlns="{NS}"><Error><Type>Sender</Type><Code>InvalidAction</Code>'
                     f"<Message>the stub does not implement {escape(action)}</Message></Error>"
                     "<RequestId>stub</RequestId></ErrorResponse>")
