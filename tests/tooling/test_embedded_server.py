"""The embedded server: it outlives the command that started it, `stop`
stops it, and a crash or a stale pid file is recovered from, not reported
as a mystery.  Each test here drives a private server in a scratch folder."""

from __future__ import annotations

import signal
import subprocess
import time

import psutil
import psycopg
import pytest

from tests.support import assert_one_line_error, run_cli
from tooling import server


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("embedded") / "pgdata"
    yield folder
    run_cli("stop", env={"TODODB_DATA_DIR": str(folder)})


def _cli(data_dir, *args):
    return run_cli(*args, env={"TODODB_DATA_DIR": str(data_dir)})


def _postmaster_pid(data_dir) -> int:
    return int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0])


def _wait_gone(pid: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
        if time.monotonic() > deadline:
            pytest.fail(f"process {pid} still running")
        time.sleep(0.05)


def test_server_outlives_the_command_and_stop_stops_it(data_dir):
    started = _cli(data_dir, "status")
    assert started.returncode == 0, started.stderr
    assert "0 applied" in started.stdout
    pid = _postmaster_pid(data_dir)
    assert psutil.Process(pid).name() == "postgres"  # still up after the command exited
    assert (data_dir / ".s.PGSQL.5432").is_socket()  # its socket lives in the data folder

    reused = _cli(data_dir, "status")
    assert reused.returncode == 0 and _postmaster_pid(data_dir) == pid

    stopped = _cli(data_dir, "stop")
    assert stopped.returncode == 0 and "stopped the embedded server" in stopped.stdout
    _wait_gone(pid)
    again = _cli(data_dir, "stop")
    assert again.returncode == 0 and "not running" in again.stdout


def test_server_killed_outright_is_recovered_by_the_next_command(data_dir):
    assert _cli(data_dir, "status").returncode == 0
    pid = _postmaster_pid(data_dir)
    psutil.Process(pid).send_signal(signal.SIGKILL)
    _wait_gone(pid)

    result = _cli(data_dir, "status")
    assert result.returncode == 0, result.stderr
    assert "removed a stale" in result.stdout
    assert _postmaster_pid(data_dir) != pid


def test_pid_file_naming_another_live_process_is_recovered(data_dir):
    assert _cli(data_dir, "stop").returncode == 0
    impostor = subprocess.Popen(["sleep", "60"])
    try:
        # A pid file from an earlier boot whose pid now belongs to something else.
        (data_dir / "postmaster.pid").write_text(
            f"{impostor.pid}\n{data_dir}\n1\n5432\n{data_dir}\n\n  1  2\nready   \n"
        )
        result = _cli(data_dir, "status")
        assert result.returncode == 0, result.stderr
        assert _postmaster_pid(data_dir) != impostor.pid
        assert impostor.poll() is None  # the impostor was left alone
    finally:
        impostor.kill()


def test_data_folder_that_cannot_start_is_one_line(tmp_path):
    broken = tmp_path / "pgdata"
    broken.mkdir()
    (broken / "PG_VERSION").write_text("18\n")  # looks initialised, holds nothing
    result = _cli(broken, "status")
    assert "did not start" in assert_one_line_error(result)


def test_remove_stale_pidfile_keeps_a_live_servers_file(data_dir):
    assert _cli(data_dir, "status").returncode == 0
    assert server.remove_stale_pidfile(data_dir) is False
    assert (data_dir / "postmaster.pid").exists()


def _roles(data_dir) -> list[str]:
    url = server.EmbeddedServer(data_dir, 5432).url("postgres")
    with psycopg.connect(url, autocommit=True) as conn:
        return [r[0] for r in conn.execute("select rolname from pg_roles where rolname like 'todo\\_%' order by 1")]


def test_rollback_drops_the_roles_only_when_no_other_database_uses_them(data_dir):
    assert _cli(data_dir, "migrate").returncode == 0
    assert _roles(data_dir) == ["todo_app", "todo_auth", "todo_readonly"]
    result = _cli(data_dir, "rollback", "--all")
    assert result.returncode == 0, result.stderr
    assert _roles(data_dir) == []  # this server has no other database using them

    assert _cli(data_dir, "migrate").returncode == 0
    url = server.EmbeddedServer(data_dir, 5432).url("postgres")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create database other_app")
        conn.execute("grant connect on database other_app to todo_readonly")
    try:
        assert _cli(data_dir, "rollback", "--all").returncode == 0
        # todo_readonly is still used by another database: kept. The others are used nowhere: dropped.
        assert _roles(data_dir) == ["todo_readonly"]
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("drop database other_app")
