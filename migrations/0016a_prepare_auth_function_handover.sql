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
    administrator can give it, and this migration says so in one line:
    ADMIN OPTION alone (INHERIT and SET false), the grant PostgreSQL gives
    the creator of a role, so that the owner holds no standing rights of
    todo_auth.
  - after `revoke todo_auth from current_user`, 0017 still grants and revokes
    EXECUTE on functions that todo_auth now owns, which needs todo_auth's
    privileges. The owner keeps them for the rest of 0017 through
    todo_migrator, a NOLOGIN group role that is a member of todo_auth:
    0017's revoke removes only the direct grant, so this path survives it.
    0023 ends the owner's membership in todo_migrator again: roles are
    cluster-wide, and a standing membership would give this owner
    todo_auth's rights (every user's password hash) in every other tododb
    database of the cluster. Later migrations that replace todo_auth's
    functions grant themselves todo_auth for their own transaction, as 0017
    does.
  - `make seed` and the app's login role (`create role ... in role
    todo_app`) need to grant todo_app: on 16+ that too needs ADMIN OPTION.

  An existing todo_migrator is held to 0002's rule: a plain NOLOGIN group
  role, or this migration refuses it (whoever could log in as it would hold
  todo_auth's rights).

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
    'tododb: holds todo_auth''s rights for a database owner that is not a superuser, during 0017 only.';
  elsif exists (
    select from pg_catalog.pg_roles
    where rolname = 'todo_migrator' and (rolcanlogin or rolsuper or rolcreatedb or rolcreaterole or rolbypassrls)
  ) then
    raise exception 'role todo_migrator already exists with login, superuser, createdb, createrole or bypassrls'
      using errcode = 'insufficient_privilege',
      hint = 'tododb needs it to be a plain NOLOGIN group role; fix or rename the existing role.';
  end if;
  -- Since PostgreSQL 16 granting a role needs ADMIN OPTION on it (CREATEROLE was enough before).
  if pg_catalog.current_setting('server_version_num')::integer >= 160000 then
    select pg_catalog.array_agg(wanted order by wanted) into needs_admin
    from pg_catalog.unnest(array['todo_app', 'todo_auth', 'todo_migrator']) as wanted
    where not pg_catalog.pg_has_role(me, wanted, 'MEMBER WITH ADMIN OPTION');
    if needs_admin is not null then
      raise exception
        'role % cannot grant % (PostgreSQL 16+ needs ADMIN OPTION): ask the cluster''s administrator to run: grant % to % with admin option, inherit false, set false',
        me, pg_catalog.array_to_string(needs_admin, ', '), pg_catalog.array_to_string(needs_admin, ', '),
        pg_catalog.quote_ident(me)
        using errcode = 'insufficient_privilege';
    end if;
  end if;
  if not pg_catalog.pg_has_role('todo_migrator', 'todo_auth', 'USAGE') then
    grant todo_auth to todo_migrator;
  end if;
  if not pg_catalog.pg_has_role(me, 'todo_migrator', 'USAGE') then
    execute pg_catalog.format('grant todo_migrator to %I', me);
  end if;
end
$$;
