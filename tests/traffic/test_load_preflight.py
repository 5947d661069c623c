"""Preflight: every bad load setup is a LoadError (exit 2) before anything is injected."""
from __future__ import annotations

from pathlib import Path

import pytest

from chaosrunner.errors import LoadError
from chaosrunner.traffic import LoadRunner
from chaosrunner.model.traffic import LoadInputError
from chaosrunner.timeline import Timeline

from support import free_port

USERFILE = """
from locust import HttpUser, task


class Api(HttpUser):
    @task
    def health(self):
        self.client.get("/health")
"""


def runner(tmp_path: Path, **load: object) -> LoadRunner:
    return LoadRunner(load, tmp_path / "run", Timeline(), base_dir=tmp_path, run_time=10)


def test_missing_locustfile(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match=r"'locust/nope.py' does not exist \(looked for .*locust/nope.py\)"):
        runner(tmp_path, locustfile="locust/nope.py", users=1).preflight()


def test_locustfile_that_does_not_import(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text("import no_such_module_here\n")
    with pytest.raises(LoadError) as info:
        runner(tmp_path, locustfile="bad.py", users=1).preflight()
    assert "does not import" in str(info.value) and "no_such_module_here" in str(info.value)


def test_locustfile_without_user_class(tmp_path: Path) -> None:
    (tmp_path / "empty.py").write_text("from locust import task\nVALUE = 1\n")
    with pytest.raises(LoadError, match="defines no Locust User class"):
        runner(tmp_path, locustfile="empty.py", users=1).preflight()


def test_host_refusing_connections(tmp_path: Path) -> None:
    (tmp_path / "api.py").write_text(USERFILE)
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(LoadError, match=r"is not reachable .*refused"):
        runner(tmp_path, locustfile="api.py", users=1, host=url).preflight()


def test_rate_with_zero_users(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="users: 0"):
        runner(tmp_path, locustfile="api.py", users=0, rate="10/s")


def test_unresolved_reference(tmp_path: Path) -> None:
    (tmp_path / "api.py").write_text(USERFILE)
    with pytest.raises(LoadError, match="unresolved reference"):
        runner(tmp_path, locustfile="api.py", users=1, host="${api.url}").preflight()


def test_good_locustfile_passes_and_locust_never_enters_this_process(tmp_path: Path, delay_server) -> None:
    import sys

    (tmp_path / "api.py").write_text(USERFILE)
    r = runner(tmp_path, locustfile="api.py", users=1, host=delay_server.url)
    r.preflight()
    assert r.locustfile == tmp_path / "api.py"
    assert "locust" not in sys.modules and "gevent" not in sys.modules


def test_http_profile_generates_a_fasthttpuser_locustfile(tmp_path: Path, delay_server) -> None:
    r = runner(tmp_path, http={"host": delay_server.url, "paths": ["/a", "/b"], "weights": [1, 3]}, users=1)
    r.preflight()
    assert r.locustfile is not None and r.locustfile.parent == tmp_path / "run"
    text = r.locustfile.read_text()
    assert "FastHttpUser" in text and '["/a", "/b"]' in text


def test_syntax_error_is_one_located_line(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text("from locust import HttpUser\nx = (\n")
    with pytest.raises(LoadInputError) as info:
        runner(tmp_path, locustfile="bad.py", users=1).preflight()
    assert info.value.field == ("locustfile",)
    assert "does not import: SyntaxError: '(' was never closed (bad.py, line 2)" in info.value.message
    assert "^" not in str(info.value) and "Traceback" not in str(info.value)


def test_host_of_the_locustfiles_own_user_class_is_checked(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    own = USERFILE.replace("class Api(HttpUser):", f"class Api(HttpUser):\n    host = {url!r}")
    (tmp_path / "own.py").write_text(own)
    with pytest.raises(LoadInputError, match=rf"load host {url} is not reachable .*refused") as info:
        runner(tmp_path, locustfile="own.py", users=1).preflight()
    assert info.value.field == ("locustfile",) and "user class" in str(info.value.hint)


def test_a_user_class_without_any_host_is_refused(tmp_path: Path) -> None:
    (tmp_path / "api.py").write_text(USERFILE)
    with pytest.raises(LoadInputError, match="user class Api of api.py has no host"):
        runner(tmp_path, locustfile="api.py", users=1).preflight()


def test_base_url_is_only_a_default(tmp_path: Path, delay_server) -> None:
    elsewhere = f"http://127.0.0.1:{free_port()}"          # would refuse: it must not be used
    profile = {"paths": ["/a"]}
    r = LoadRunner({"http": {**profile, "host": delay_server.url}, "users": 1}, tmp_path / "a", Timeline(),
                   default_host=elsewhere)
    r.preflight()
    assert r.host == delay_server.url and f'host = "{delay_server.url}"' in r.locustfile.read_text()
    assert "--host" in (argv := r.command("127.0.0.1:1")[0]) and argv[argv.index("--host") + 1] == delay_server.url
    r = LoadRunner({"http": profile, "users": 1}, tmp_path / "b", Timeline(), default_host=delay_server.url)
    r.preflight()
    assert r.host == delay_server.url
    (tmp_path / "own.py").write_text(USERFILE.replace("class Api(HttpUser):",
                                                      f"class Api(HttpUser):\n    host = {delay_server.url!r}"))
    r = LoadRunner({"locustfile": "own.py", "users": 1}, tmp_path / "c", Timeline(), base_dir=tmp_path,
                   default_host=elsewhere)
    r.preflight()
    assert r.host is None and "--host" not in r.command("127.0.0.1:1")[0]     # the class keeps its own host
    (tmp_path / "api.py").write_text(USERFILE)
    r = LoadRunner({"locustfile": "api.py", "users": 1}, tmp_path / "d", Timeline(), base_dir=tmp_path,
                   default_host=delay_server.url)
    r.preflight()
    assert r.host == delay_server.url


def test_http_profile_without_any_host(tmp_path: Path) -> None:
    with pytest.raises(LoadInputError, match="load.http has no host") as info:
        runner(tmp_path, http={"paths": ["/"]}, users=1).preflight()
    assert info.value.field == ("http",)
