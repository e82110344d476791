-- Put back retention's plain FOR UPDATE and the owner as the actor of purges, as after 0027.
set local lock_timeout = '5s';
set local statement_timeout = '30s';

create or replace function app_private.purge_deleted_tasks(deleted_before timestamptz, batch_size integer)
returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
  batch record;
  purged integer := 0;
begin
  for batch in
    select c.user_id, array_agg(c.id) as ids
    from (
      select t.user_id, t.id
      from app.tasks as t
      where t.deleted_at < deleted_before
      order by t.deleted_at, t.id
      limit batch_size
      for update
    ) as c
    group by c.user_id
  loop
    perform pg_catalog.set_config('app.user_id', batch.user_id::text, true);
    delete from app.tasks as t where t.user_id = batch.user_id and t.id = any(batch.ids);
    purged := purged + pg_catalog.cardinality(batch.ids);
  end loop;
  perform pg_catalog.set_config('app.user_id', '', true);
  return purged;
end;
$$;

create or replace function app_private.archive_completed_tasks(completed_before timestamptz, batch_size integer)
returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
  batch record;
  moved integer := 0;
begin
  for batch in
    select c.user_id, array_agg(c.id) as ids
    from (
      select t.user_id, t.id
      from app.tasks as t
      where t.status = 'completed' and t.completed_at < completed_before and t.deleted_at is null
      order by t.completed_at, t.id
      limit batch_size
      for update
    ) as c
    group by c.user_id
  loop
    perform pg_catalog.set_config('app.user_id', batch.user_id::text, true);
    insert into app.tasks_archive (
      id, user_id, title, description, status, priority, due_at, completed_at, estimated_hours, deleted_at,
      created_at, updated_at
    )
    select
      t.id, t.user_id, t.title, t.description, t.status, t.priority, t.due_at, t.completed_at, t.estimated_hours,
      t.deleted_at, t.created_at, t.updated_at
    from app.tasks as t
    where t.user_id = batch.user_id and t.id = any(batch.ids);
    insert into app.task_tags_archive (user_id, task_id, tag_id, created_at)
    select tt.user_id, tt.task_id, tt.tag_id, tt.created_at
    from app.task_tags as tt
    where tt.user_id = batch.user_id and tt.task_id = any(batch.ids);
    delete from app.tasks as t where t.user_id = batch.user_id and t.id = any(batch.ids);
    moved := moved + pg_catalog.cardinality(batch.ids);
  end loop;
  perform pg_catalog.set_config('app.user_id', '', true);
  return moved;
end;
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
