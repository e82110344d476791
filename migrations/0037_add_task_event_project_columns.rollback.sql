-- Take project_id off task history, and give the creator's account its history back.
-- squawk-ignore-file ban-drop-constraint, ban-drop-column
-- (A rollback exists to undo what its migration did.)
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

alter table app.task_events drop constraint task_events_actor_id_fkey;

comment on column app.task_events.actor_id is
'The identity in force (app.user_id) when it happened; null for maintenance without one.';

alter table app.task_events drop column project_id;
