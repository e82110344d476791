"""Throwaway databases (the bench's data set, the schema snapshot, big test fixtures).

One way to make them: created fresh (a leftover of a crashed run is dropped
first), optionally from a template, and dropped on the way out even if the
work failed, ending any session still connected.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from tooling.target import connect


def drop_database(admin_url: str, name: str) -> None:
    """Drop database ``name`` if it exists, ending any session still connected to it."""
    with connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@contextmanager
def scratch_database(admin_url: str, name: str, template: str | None = None) -> Iterator[str]:
    """Create database ``name`` through ``admin_url`` (a connection to another database); yield its URL."""
    create = sql.SQL("create database {}").format(sql.Identifier(name))
    if template:
        create += sql.SQL(" template {}").format(sql.Identifier(template))
    drop_database(admin_url, name)
    with connect(admin_url, autocommit=True) as conn:
        conn.execute(create)
    try:
        yield psycopg.conninfo.make_conninfo(admin_url, dbname=name)
    finally:
        drop_database(admin_url, name)
