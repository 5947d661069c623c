"""Real PostgreSQL 15 for tests: a primary and a streaming-replication standby on loopback.

``PgCluster.create(sync=False)`` runs ``initdb`` for a primary, ``pg_basebackup -R`` for a
standby, and starts both with ``pg_ctl`` on free 127.0.0.1 ports, in a temporary folder the
``postgres`` user owns (the servers refuse to run as root, so as root they run through
``runuser -u postgres``). ``sync=True`` makes the standby synchronous with
``synchronous_commit = remote_apply``: a commit is acknowledged only once the standby applied it.

``Failover`` is the small supervisor a real deployment has: it polls the primary and promotes
the standby (``pg_ctl promote``) once the primary has stopped answering for ``after`` seconds.
"""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import psycopg
from support import PortTaken, free_port, on_a_free_port

PG_BIN = Path(os.environ.get("CHAOSRUNNER_PG_BIN", "/usr/lib/postgresql/15/bin"))


def available() -> bool:
    return all((PG_BIN / b).exists() for b in ("initdb", "pg_ctl", "pg_basebackup", "postgres"))


def _as_postgres(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def _run(argv: list[str], timeout: float = 60) -> str:
    proc = subprocess.run(_as_postgres(argv), capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr or proc.stdout}")
    return proc.stdout


class PgNode:
    def __init__(self, name: str, datadir: Path, port: int, sockdir: Path):
        self.name, self.datadir, self.port, self.sockdir = name, datadir, port, sockdir
        self.log = datadir.parent / f"{name}.log"

    @property
    def conninfo(self) -> str:
        return f"host=127.0.0.1 port={self.port} dbname=postgres user=postgres connect_timeout=2"

    def start(self) -> None:
        _run([str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.log), "-w", "-t", "30",
              "-o", f"-p {self.port} -k {self.sockdir}", "start"])

    def stop(self, mode: str = "fast") -> None:
        if self.pid() is not None:
            subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w",
                                         "stop"]), capture_output=True, timeout=60)

    def pid(self) -> int | None:
        try:
            pid = int((self.datadir / "postmaster.pid").read_text().split()[0])
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError, IndexError):
            return None

    def processes(self) -> list[int]:
        """The postmaster and its children."""
        pid = self.pid()
        if pid is None:
            return []
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        return [pid, *map(int, out)]

    def stall_walsenders(self) -> list[int]:
        """SIGSTOP the WAL senders: the primary still commits, nothing reaches the standby (replication lag)."""
        pids = []
        for pid in self.processes()[1:]:
            try:
                if "walsender" in Path(f"/proc/{pid}/cmdline").read_text():
                    os.kill(pid, signal.SIGSTOP)
                    pids.append(pid)
            except OSError:
                pass
        return pids

    def kill9(self) -> None:
        """Lose the node at once: SIGKILL the postmaster and every child (a machine or pod loss)."""
        for pid in self.processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        deadline = time.monotonic() + 10
        while self.pid() is not None and time.monotonic() < deadline:
            time.sleep(0.02)

    def promote(self) -> None:
        _run([str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "-w", "-t", "30", "promote"])

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def is_primary(self) -> bool:
        return not self.query("SELECT pg_is_in_recovery()")[0][0]

    def leftover_processes(self) -> list[int]:
        """Processes still working in this data directory (children outliving a killed postmaster)."""
        here = self.datadir.resolve()
        out = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if Path(os.readlink(entry / "cwd")) == here:
                        out.append(int(entry.name))
                except OSError:
                    pass
        return out

    def reopen_read_only(self, timeout: float = 20) -> PgNode:
        """Start this (lost) node's data directory again, alone, on a new port, read-only.

        What the node had committed can then be queried directly, while it cannot take a
        write, nor answer on the address a multi-host connection string still lists. Waits
        first for the old postmaster's children to exit (they hold its shared memory).
        """
        deadline = time.monotonic() + timeout
        while self.leftover_processes():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: processes {self.leftover_processes()} still run in {self.datadir}")
            time.sleep(0.05)
        node = PgNode(f"{self.name}-reopened", self.datadir, free_port(), self.sockdir)
        _run([str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "-l", str(node.log), "-w", "-t", "30",
              "-o", f"-p {node.port} -k {self.sockdir} -c default_transaction_read_only=on", "start"])
        return node


def _start_on_a_free_port(node: PgNode) -> None:
    """Start a new node on a free port; another one if something took that port in the meantime."""
    def start(port: int) -> None:
        node.port = port
        try:
            node.start()
        except RuntimeError as exc:
            log = node.log.read_text(errors="replace") if node.log.exists() else ""
            if "Address already in use" in log:
                raise PortTaken(str(exc)) from exc
            raise

    on_a_free_port(start)


class PgCluster:
    def __init__(self, root: Path, primary: PgNode, standby: PgNode, sync: bool):
        self.root, self.primary, self.standby, self.sync = root, primary, standby, sync

    @property
    def nodes(self) -> dict[str, PgNode]:
        return {self.primary.name: self.primary, self.standby.name: self.standby}

    @property
    def dsn(self) -> str:
        """A multi-host connection string that follows the read-write node (libpq)."""
        return (f"host=127.0.0.1,127.0.0.1 port={self.primary.port},{self.standby.port} dbname=postgres "
                f"user=postgres target_session_attrs=read-write connect_timeout=2")

    @classmethod
    def create(cls, sync: bool = False, names: tuple[str, str] = ("pg1", "pg2")) -> PgCluster:
        if not available():
            raise RuntimeError(f"PostgreSQL server binaries not found in {PG_BIN}")
        root = Path(tempfile.mkdtemp(prefix="chaosrunner-pg-"))
        os.chmod(root, 0o755)
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(root, pw.pw_uid, pw.pw_gid)
        # ports are chosen just before each server starts (initdb and pg_basebackup take seconds)
        primary = PgNode(names[0], root / names[0], 0, root)
        standby = PgNode(names[1], root / names[1], 0, root)
        try:
            _run([str(PG_BIN / "initdb"), "-D", str(primary.datadir), "-U", "postgres", "--auth=trust",
                  "--no-sync", "-E", "UTF8"])
            conf = [
                "listen_addresses = '127.0.0.1'", "wal_level = replica", "max_wal_senders = 5",
                "hot_standby = on", "fsync = off", "full_page_writes = off", "shared_buffers = 16MB",
                "max_connections = 40", "wal_sender_timeout = 5s", "wal_receiver_timeout = 5s",
                "logging_collector = off",
            ]
            if sync:
                conf += [f"synchronous_standby_names = '{standby.name}'", "synchronous_commit = remote_apply"]
            with open(primary.datadir / "postgresql.conf", "a") as f:
                f.write("\n".join(conf) + "\n")
            with open(primary.datadir / "pg_hba.conf", "a") as f:
                f.write("host replication all 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 trust\n")
            _start_on_a_free_port(primary)
            _run([str(PG_BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
                  "-D", str(standby.datadir), "-R", "-X", "stream", "--no-sync"])
            with open(standby.datadir / "postgresql.auto.conf", "a") as f:
                f.write(f"primary_conninfo = 'host=127.0.0.1 port={primary.port} user=postgres "
                        f"application_name={standby.name}'\n")
            _start_on_a_free_port(standby)
            cluster = cls(root, primary, standby, sync)
            cluster.wait_streaming()
            return cluster
        except BaseException:
            for node in (standby, primary):
                node.stop("immediate")
            shutil.rmtree(root, ignore_errors=True)
            raise

    def wait_streaming(self, timeout: float = 20) -> None:
        want = "sync" if self.sync else "async"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self.primary.query("SELECT application_name, state, sync_state FROM pg_stat_replication")
            if any(r[0] == self.standby.name and r[1] == "streaming" and r[2] == want for r in rows):
                return
            time.sleep(0.1)
        raise RuntimeError(f"standby did not start streaming ({want}) in {timeout}s")

    def destroy(self) -> None:
        for node in (self.standby, self.primary):
            for pid in node.processes():
                try:
                    os.kill(pid, signal.SIGCONT)
                except OSError:
                    pass
            node.stop("immediate")
            if node.pid() is not None:
                node.kill9()
        shutil.rmtree(self.root, ignore_errors=True)


class Failover:
    """Promotes the standby once the primary has not answered for ``after`` seconds."""

    def __init__(self, cluster: PgCluster, after: float = 0.5, poll: float = 0.1):
        self.cluster, self.after, self.poll = cluster, after, poll
        self.promote_started_at: float | None = None  # time.monotonic() as `pg_ctl promote` began
        self.promoted_at: float | None = None        # ... and as it returned
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pg-failover", daemon=True)

    def start(self) -> Failover:
        self._thread.start()
        return self

    def _alive(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.cluster.primary.port), timeout=self.poll):
                pass
            return self.cluster.primary.pid() is not None
        except OSError:
            return False

    def _run(self) -> None:
        down_since: float | None = None
        while not self._stop.wait(self.poll):
            if self._alive():
                down_since = None
                continue
            now = time.monotonic()
            down_since = down_since or now
            if now - down_since >= self.after:
                try:
                    self.promote_started_at = time.monotonic()
                    self.cluster.standby.promote()
                    self.promoted_at = time.monotonic()
                    if self.cluster.sync:
                        # the promoted node would wait for itself as a synchronous standby: a real
                        # failover manager drops the requirement when no standby is left
                        self.cluster.standby.query("ALTER SYSTEM SET synchronous_standby_names = ''")
                        self.cluster.standby.query("SELECT pg_reload_conf()")
                except Exception as exc:  # noqa: BLE001 - reported to the test
                    self.error = str(exc)
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=40)
