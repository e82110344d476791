-- Pin every function's search_path to pg_catalog, then pg_temp, and qualify the names they use.
-- depends: 0023_revoke_auth_schema_create
/*
  `set search_path = ''` does not keep pg_temp out: PostgreSQL then searches
  the session's temporary schema FIRST for relations and types (it never
  looks there for unqualified functions or operators). Any role that may create
  temporary objects (PUBLIC may, by default) could plant
  `create domain pg_temp.uuid as pg_catalog.uuid check (pg_temp.evil(value))`
  and have the history trigger (SECURITY DEFINER: the schema owner's rights),
  resolving its `declare actor uuid` and, through task_events' insert policy,
  app.current_user_id()'s `::uuid`, run evil() as the owner: on a database
  migrated by a superuser, that made the app's login role a superuser.

  `pg_catalog, pg_temp` names pg_temp explicitly and last, so a name that
  exists in pg_catalog always resolves there first; every other name is
  schema-qualified, types and functions alike. Every function gets the same
  pin, definer or not:
  invoker trigger functions run with the rights of whoever fires them, and
  that can be a definer function's owner (app.sign_up's insert fires the
  users timestamps trigger as todo_auth).

  app.current_user_id() keeps no SET clause (it must stay inlinable, see
  0003) and names pg_catalog.uuid instead: inlined into a policy, it is
  resolved with the search_path of whoever runs the query.

  The functions todo_auth owns are replaced with todo_auth's rights, taken
  for this transaction (an ordinary owner may: it has ADMIN OPTION on the
  role, see 0016a); they stay todo_auth's. The retention
  functions (invoker, run only by a superuser or BYPASSRLS session) are
  replaced in 0027.
*/
set local lock_timeout = '5s';
set local statement_timeout = '30s';

create or replace function app.current_user_id() returns uuid
language sql
stable
parallel safe
as $$
  select nullif(pg_catalog.current_setting('app.user_id', true), '')::pg_catalog.uuid;
$$;

create or replace function app_private.tg_tasks__record_events() returns trigger
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  actor pg_catalog.uuid := app.current_user_id();
begin
  if tg_op = 'INSERT' then
    insert into app.task_events (user_id, task_id, actor_id, kind, new_status)
    select n.user_id, n.id, actor, 'created', n.status
    from new_rows as n;
  elsif tg_op = 'UPDATE' then
    insert into app.task_events (user_id, task_id, actor_id, kind, old_status, new_status)
    select n.user_id, n.id, actor, e.kind, e.old_status, e.new_status
    from old_rows as o
    inner join new_rows as n on n.id = o.id
    cross join lateral (
      values
      ('status_changed', o.status, n.status, o.status is distinct from n.status),
      ('deleted', null, null, o.deleted_at is null and n.deleted_at is not null),
      ('restored', null, null, o.deleted_at is not null and n.deleted_at is null)
    ) as e (kind, old_status, new_status, happened)
    where e.happened;
  else
    insert into app.task_events (user_id, task_id, actor_id, kind)
    select o.user_id, o.id, actor, 'hard_deleted'
    from old_rows as o
    where
      exists (select from app.users as u where u.id = o.user_id)
      and not exists (select from app.tasks_archive as a where a.id = o.id);
  end if;
  return null;
end;
$$;

create or replace function app_private.tg__timestamps() returns trigger
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  if tg_op = 'INSERT' then
    new.updated_at := greatest(new.updated_at, new.created_at);
  elsif new.created_at is distinct from old.created_at then
    raise exception '%.created_at cannot be changed', tg_table_name
      using
        errcode = 'integrity_constraint_violation',
        constraint = tg_table_name || '_created_at_immutable',
        schema = tg_table_schema,
        table = tg_table_name,
        column = 'created_at';
  else
    new.updated_at := greatest(pg_catalog.now(), old.updated_at + '1 microsecond'::pg_catalog.interval);
  end if;
  return new;
end;
$$;

create or replace function app_private.tg_tasks__completed_at() returns trigger
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  if tg_op = 'INSERT' then
    if new.status = 'completed' and new.completed_at is null then
      new.completed_at := pg_catalog.now();
    end if;
  elsif new.status is distinct from old.status then
    if new.status = 'completed' then
      new.completed_at := coalesce(new.completed_at, pg_catalog.now());
    elsif old.status = 'completed' then
      new.completed_at := null;
    end if;
  end if;
  return new;
end;
$$;

create or replace function app_private.tg_task_events__append_only() returns trigger
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  if pg_catalog.pg_trigger_depth() > 1 and tg_op = 'DELETE' then
    return null;  -- the cascade from deleting a user: their history goes with them
  end if;
  if pg_catalog.current_setting('tododb.history_maintenance', true) = 'on'
    and pg_catalog.pg_has_role(current_user, (select c.relowner from pg_catalog.pg_class as c where c.oid = tg_relid), 'MEMBER')
    then
    return null;
  end if;
  raise exception 'task_events is append-only: % is refused', tg_op
    using
      errcode = 'integrity_constraint_violation',
      constraint = 'task_events_append_only',
      schema = tg_table_schema,
      table = tg_table_name;
end;
$$;

-- The functions todo_auth owns are replaced with its rights, taken for this transaction only (as 0017 does).
grant todo_auth to current_user;

create or replace function app.sign_up(email text, name text, password_hash text) returns uuid
language sql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
  insert into app.users (email, name, password_hash)
  values ($1, $2, $3)
  returning id;
$$;

create or replace function app.user_for_login(email text) returns table (id uuid, password_hash text, is_active boolean)
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select u.id, u.password_hash, u.is_active
  from app.users as u
  where u.email operator(public.=) $1::public.citext;
$$;

create or replace function app.record_login(user_id uuid) returns void
language sql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
  update app.users set last_login_at = pg_catalog.now() where id = $1;
$$;

revoke todo_auth from current_user;
