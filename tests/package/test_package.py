"""The backend's library as a backend gets it: a wheel built from the
repository, installed into a fresh virtualenv outside the checkout, carrying
the named queries' SQL, and working as a user against a migrated database.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from tests.logins import login_role
from tests.support import ROOT, new_user

BACKEND = textwrap.dedent("""
    import json, os, sys
    import tododb
    from tododb import FIRST_ASC, QUERIES, as_user, create_pool

    with create_pool() as pool:  # APP_DATABASE_URL
        with as_user(pool, os.environ["END_USER"]) as conn:
            QUERIES.create_task(conn, title="from the wheel", description=None, priority=None, due_at=None,
                                estimated_hours=None)
        with as_user(pool, os.environ["END_USER"]) as conn:
            rows = QUERIES.open_tasks_by_due_date(conn, after_due_at=FIRST_ASC[0], after_id=FIRST_ASC[1], page_size=5)
            titles = [row[1] for row in rows]
    print(json.dumps({"module": tododb.__file__, "titles": titles, "path": sys.path}))
""")


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A fresh virtualenv with the wheel built from this checkout installed (and nothing else of it)."""
    where = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(where / "dist"), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (where / "dist").glob("tododb-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {"tododb/_sql/tasks.sql", "tododb/_sql/tags.sql", "tododb/queries.py", "tododb/pool.py"} <= set(names)
    subprocess.run([sys.executable, "-m", "venv", str(where / "venv")], check=True, timeout=300)
    installed = subprocess.run(
        [str(where / "venv/bin/python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert installed.returncode == 0, installed.stderr
    return where / "venv"


def test_the_installed_wheel_runs_the_named_queries_as_a_user(venv, superuser_migrated, tmp_path):
    ann = new_user(superuser_migrated, "ann@example.com")
    superuser_migrated.commit()
    superuser_migrated.autocommit = True
    with login_role(superuser_migrated, superuser_migrated.info.dbname) as url:
        ran = subprocess.run(
            [str(venv / "bin/python"), "-c", BACKEND],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env={"APP_DATABASE_URL": url, "END_USER": str(ann), "PATH": "/usr/bin:/bin"},
            timeout=120,
        )
    assert ran.returncode == 0, ran.stderr
    out = json.loads(ran.stdout)
    assert out["titles"] == ["from the wheel"]
    assert out["module"].startswith(str(venv)) and not any(p.startswith(str(ROOT)) for p in out["path"] if p)


def test_the_operational_command_says_in_one_line_what_it_needs_where_only_the_package_is(venv, tmp_path):
    ran = subprocess.run(
        [str(venv / "bin/tododb"), "status"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert ran.returncode == 1 and "Traceback" not in ran.stderr
    assert ran.stderr.strip().splitlines() == [ran.stderr.strip()] and ran.stderr.startswith("tododb: ")
