-- Create the application roles if they are missing, and stop granting new functions to PUBLIC.
-- depends: 0001_create_schemas
/*
  Roles are cluster-wide: another database (a second checkout, the test
  templates) may have created them already, so creation is guarded. A role
  that exists with a dangerous attribute (login, superuser, createdb,
  createrole, bypassrls) is refused rather than silently altered: altering
  it could break whoever made it that way, and needing it is a finding.

  - todo_app: what the application's login roles are members of. Reads and
    writes user data under row-level security; no DDL.
  - todo_readonly: reads the same data under the same policies; never
    password_hash.
  - todo_auth: owns the sign-up/sign-in functions (SECURITY DEFINER) and is
    the only role the narrow login policies on app.users apply to. Nobody
    logs in as it; nobody is a member of it once 0017 has run.

  Functions are executable by PUBLIC by default; from here on, functions this
  role creates are not, and each is granted to whom it is for.
*/
set local lock_timeout = '5s';
set local statement_timeout = '30s';

do $$
declare
  wanted text;
  purpose text;
begin
  for wanted, purpose in
    values
    ('todo_app', 'tododb: the application''s login roles are members; user data under row-level security.'),
    ('todo_readonly', 'tododb: read-only access to user data under row-level security; never password_hash.'),
    ('todo_auth', 'tododb: owns the sign-up and sign-in functions; nobody logs in as it.')
  loop
    if not exists (select from pg_catalog.pg_roles where rolname = wanted) then
      execute pg_catalog.format(
        'create role %I nologin nosuperuser nocreatedb nocreaterole noreplication nobypassrls', wanted
      );
      execute pg_catalog.format('comment on role %I is %L', wanted, purpose);
    elsif exists (
      select from pg_catalog.pg_roles
      where rolname = wanted and (rolcanlogin or rolsuper or rolcreatedb or rolcreaterole or rolbypassrls)
    ) then
      raise exception 'role % already exists with login, superuser, createdb, createrole or bypassrls', wanted
        using errcode = 'insufficient_privilege',
        hint = 'tododb needs it to be a plain NOLOGIN group role; fix or rename the existing role.';
    end if;
  end loop;
end
$$;

alter default privileges revoke execute on functions from public;

grant usage on schema app to todo_app, todo_readonly, todo_auth;
