-- Give a database owner that is not a superuser what it needs of tododb's roles, starting with 0017's handover.
-- depends: 0016_create_task_event_triggers
/*
  Numbered 0016a so that it runs right before 0017 on a new database: 0017
  has landed and is never edited, and as written it works only for a
  superuser. A database that is already past 0017 applies this late, which
  is harmless (it grants only what the handover needs; 0023 takes the schema
  privilege back).

  What 0017 needs from an ordinary owner (CREATEDB, CREATEROLE: Neon, RDS),
  and what PostgreSQL checks:

  - `alter function ... owner to todo_auth`: the new owner must have CREATE
    on schema app (superusers skip the check). Granted here, revoked by 0023.
  - `grant todo_auth to current_user`: on PostgreSQL 16 and later this needs
    ADMIN OPTION on todo_auth. The owner that created the role (0002) has it;
    when another owner created the roles first, only the cluster's
    administrator can give it, and this migration says so in one line.
  - after `revoke todo_auth from current_user`, 0017 still grants and revokes
    EXECUTE on functions that todo_auth now owns, which needs todo_auth's
    privileges. The owner keeps them through todo_migrator, a NOLOGIN group
    role that is a member of todo_auth and whose members are the owners that
    migrate without being superusers. (0017's revoke removes only the direct
    grant, so this path survives it.) Later migrations that replace
    todo_auth's functions rely on it the same way.

  - `make seed` acts as the app (`set local role todo_app`), which on 16+
    needs the SET option on a membership; todo_migrator is a member of
    todo_app and todo_readonly for that (the owner has all their privileges
    anyway: it owns what they are granted).

  A superuser needs none of this and gets only the schema privilege, so the
  catalog is the same whoever migrates.
*/
set local lock_timeout = '5s';
set local statement_timeout = '30s';

grant create on schema app to todo_auth;

do $$
declare
  me text := current_user;
  needs_admin text[];
begin
  if (select r.rolsuper from pg_catalog.pg_roles as r where r.rolname = me) then
    return;
  end if;
  if not exists (select from pg_catalog.pg_roles where rolname = 'todo_migrator') then
    create role todo_migrator nologin nosuperuser nocreatedb nocreaterole noreplication nobypassrls;
    comment on role todo_migrator is
    'tododb: the database owners that migrate without being superusers; holds todo_auth''s rights for them.';
  end if;
  -- Since PostgreSQL 16 granting a role needs ADMIN OPTION on it (CREATEROLE was enough before).
  if pg_catalog.current_setting('server_version_num')::integer >= 160000 then
    select pg_catalog.array_agg(wanted order by wanted) into needs_admin
    from pg_catalog.unnest(array['todo_app', 'todo_auth', 'todo_migrator', 'todo_readonly']) as wanted
    where not pg_catalog.pg_has_role(me, wanted, 'MEMBER WITH ADMIN OPTION');
    if needs_admin is not null then
      raise exception
        'role % cannot grant % (PostgreSQL 16+ needs ADMIN OPTION): ask the cluster''s administrator to run: grant % to % with admin option',
        me, pg_catalog.array_to_string(needs_admin, ', '), pg_catalog.array_to_string(needs_admin, ', '),
        pg_catalog.quote_ident(me)
        using errcode = 'insufficient_privilege';
    end if;
  end if;
  if not pg_catalog.pg_has_role('todo_migrator', 'todo_auth', 'USAGE') then
    grant todo_auth to todo_migrator;
  end if;
  if not pg_catalog.pg_has_role('todo_migrator', 'todo_app', 'USAGE') then
    grant todo_app to todo_migrator;
  end if;
  if not pg_catalog.pg_has_role('todo_migrator', 'todo_readonly', 'USAGE') then
    grant todo_readonly to todo_migrator;
  end if;
  if not pg_catalog.pg_has_role(me, 'todo_migrator', 'USAGE') then
    execute pg_catalog.format('grant todo_migrator to %I', me);
  end if;
end
$$;
