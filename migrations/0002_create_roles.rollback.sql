-- Revoke what 0002 granted; drop the roles only where no database uses them any more.
set local lock_timeout = '5s';
set local statement_timeout = '30s';

revoke usage on schema app from todo_app, todo_readonly, todo_auth;

alter default privileges grant execute on functions to public;

/*
  Roles are cluster-wide. One is dropped only when nothing in any database
  depends on it (pg_shdepend: ownership, grants, policies) and it has no
  members and is a member of nothing (pg_auth_members: e.g. the app's login
  roles). Otherwise it stays, with nothing granted to it in this database.
*/
do $$
declare
  candidate text;
begin
  foreach candidate in array array['todo_auth', 'todo_readonly', 'todo_app'] loop
    if exists (select from pg_catalog.pg_roles where rolname = candidate)
      and not exists (
        select from pg_catalog.pg_shdepend as d
        where d.refclassid = 'pg_catalog.pg_authid'::pg_catalog.regclass
          and d.refobjid = (select r.oid from pg_catalog.pg_roles as r where r.rolname = candidate)
      )
      and not exists (
        select from pg_catalog.pg_auth_members as m
        where (select r.oid from pg_catalog.pg_roles as r where r.rolname = candidate) in (m.roleid, m.member)
      )
      then
      execute pg_catalog.format('drop role %I', candidate);
    end if;
  end loop;
end
$$;
