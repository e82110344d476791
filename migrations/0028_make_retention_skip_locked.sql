-- Let retention skip rows the app holds locked, record its purges with no actor, and let nobody else forge one.
-- depends: 0027_validate_password_hash_max_length_check
/*
  FOR UPDATE made a batch wait for any row a user's open transaction held,
  and the next batch asked for the same oldest rows again: one stuck request
  stalled retention for good. FOR UPDATE SKIP LOCKED takes the rows nobody
  holds; a skipped task is handled by the next run, after the app lets go.
  Nothing is moved half-way: a row is either locked by the batch, or left.

  History recorded a purge as done by the task's owner, because the job sets
  the owner's identity per batch (task_events' insert policy needs it when
  the schema owner is subject to forced row-level security). The job now
  also sets tododb.retention_job, and the history trigger records no actor
  while it is on and the session may run retention at all (a superuser or a
  BYPASSRLS role: the app's roles can set the switch, but it means nothing
  for them).

  Nobody else records history for anyone but the identity in force. The
  trigger reads the identity after the statement; a statement that changes
  it on the way (`returning set_config('app.user_id', '', true)`) could
  record a forged actor, or none, which reads like a purge. Where the schema
  owner is an ordinary role, task_events' insert policy already refuses
  that; a superuser owner bypasses the policy, so the trigger checks it
  itself (42501). The privileged lookup is one catalog read per statement.
*/
set local lock_timeout = '5s';
set local statement_timeout = '30s';

create or replace function app_private.tg_tasks__record_events() returns trigger
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  actor pg_catalog.uuid := app.current_user_id();
  -- A superuser or BYPASSRLS session: the only kind that may run retention, or write history unchecked.
  privileged constant boolean := exists (
    select from pg_catalog.pg_roles as r where r.rolname = session_user and (r.rolsuper or r.rolbypassrls)
  );
  foreign_rows boolean;
begin
  -- The retention job acts for nobody: its events carry no actor.
  if privileged and pg_catalog.current_setting('tododb.retention_job', true) = 'on' then
    actor := null;
  end if;
  -- Everyone else writes history only for the identity in force, as task_events' insert policy demands when
  -- the schema owner is not a superuser: a statement that changes app.user_id while it runs (set_config in its
  -- RETURNING list) must not record another actor, or none, where a superuser owns the schema.
  if not privileged then
    if tg_op = 'DELETE' then
      foreign_rows := exists (select from old_rows as o where o.user_id is distinct from actor);
    else
      foreign_rows := exists (select from new_rows as n where n.user_id is distinct from actor);
    end if;
    if foreign_rows then
      raise exception 'task history is written only for the identity in force'
        using errcode = 'insufficient_privilege', schema = tg_table_schema, table = tg_table_name;
    end if;
  end if;
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

create or replace function app_private.archive_completed_tasks(completed_before timestamptz, batch_size integer)
returns integer
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
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
      for update skip locked
    ) as c
    group by c.user_id
  loop
    perform pg_catalog.set_config('app.user_id', batch.user_id::pg_catalog.text, true);
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

create or replace function app_private.purge_deleted_tasks(deleted_before timestamptz, batch_size integer)
returns integer
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  batch record;
  purged integer := 0;
begin
  perform pg_catalog.set_config('tododb.retention_job', 'on', true);
  for batch in
    select c.user_id, array_agg(c.id) as ids
    from (
      select t.user_id, t.id
      from app.tasks as t
      where t.deleted_at < deleted_before
      order by t.deleted_at, t.id
      limit batch_size
      for update skip locked
    ) as c
    group by c.user_id
  loop
    perform pg_catalog.set_config('app.user_id', batch.user_id::pg_catalog.text, true);
    delete from app.tasks as t where t.user_id = batch.user_id and t.id = any(batch.ids);
    purged := purged + pg_catalog.cardinality(batch.ids);
  end loop;
  perform pg_catalog.set_config('app.user_id', '', true);
  perform pg_catalog.set_config('tododb.retention_job', '', true);
  return purged;
end;
$$;
