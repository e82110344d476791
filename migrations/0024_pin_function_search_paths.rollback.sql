-- Put back the empty search_path and the unqualified types of the functions as they were before 0024.
set local lock_timeout = '5s';
set local statement_timeout = '30s';

-- The functions todo_auth owns are replaced with its rights, taken for this transaction only (as 0017 does).
grant todo_auth to current_user;

create or replace function app.record_login(user_id uuid) returns void
language sql
volatile
security definer
set search_path = ''
as $$
  update app.users set last_login_at = pg_catalog.now() where id = $1;
$$;

create or replace function app.user_for_login(email text) returns table (id uuid, password_hash text, is_active boolean)
language sql
stable
security definer
set search_path = ''
as $$
  select u.id, u.password_hash, u.is_active
  from app.users as u
  where u.email operator(public.=) $1::public.citext;
$$;

create or replace function app.sign_up(email text, name text, password_hash text) returns uuid
language sql
volatile
security definer
set search_path = ''
as $$
  insert into app.users (email, name, password_hash)
  values ($1, $2, $3)
  returning id;
$$;

revoke todo_auth from current_user;

create or replace function app_private.tg_task_events__append_only() returns trigger
language plpgsql
volatile
set search_path = ''
as $$
begin
  if pg_trigger_depth() > 1 and tg_op = 'DELETE' then
    return null;  -- the cascade from deleting a user: their history goes with them
  end if;
  if current_setting('tododb.history_maintenance', true) = 'on'
    and pg_has_role(current_user, (select c.relowner from pg_catalog.pg_class as c where c.oid = tg_relid), 'MEMBER')
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

create or replace function app_private.tg_tasks__completed_at() returns trigger
language plpgsql
volatile
set search_path = ''
as $$
begin
  if tg_op = 'INSERT' then
    if new.status = 'completed' and new.completed_at is null then
      new.completed_at := now();
    end if;
  elsif new.status is distinct from old.status then
    if new.status = 'completed' then
      new.completed_at := coalesce(new.completed_at, now());
    elsif old.status = 'completed' then
      new.completed_at := null;
    end if;
  end if;
  return new;
end;
$$;

create or replace function app_private.tg__timestamps() returns trigger
language plpgsql
volatile
set search_path = ''
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
    new.updated_at := greatest(now(), old.updated_at + interval '1 microsecond');
  end if;
  return new;
end;
$$;

create or replace function app_private.tg_tasks__record_events() returns trigger
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  actor uuid := app.current_user_id();
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

create or replace function app.current_user_id() returns uuid
language sql
stable
parallel safe
as $$
  select nullif(pg_catalog.current_setting('app.user_id', true), '')::uuid;
$$;
