-- Create the citext extension, the app schema and the private schema for internals.
/*
  Why two schemas: `app` is the public surface the application calls (tables,
  types, views, functions); `app_private` holds internals (trigger functions,
  security-definer helpers) that the application roles must never call
  directly. Granting nothing on `app_private` is the whole protection.

  Why citext lives in `public`: operators resolve through search_path, and
  `public` is on every role's default path. Installed anywhere else, a
  comparison such as `email = $1` silently falls back to case-sensitive text
  equality for any role whose path lacks that schema. The extension is
  guarded: another database object may already use it.
*/
set local lock_timeout = '5s';
set local statement_timeout = '30s';

create extension if not exists citext with schema public;

create schema app;

comment on schema app is
'The application''s public surface: tables, types, views and functions the app calls.';

create schema app_private;

comment on schema app_private is
'Internals (trigger functions, security-definer helpers); never granted to the application roles.';
