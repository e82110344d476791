-- Expand task history for sharing: each event names its project, and outlives its creator's and actor's accounts.
-- depends: 0036_add_task_project_columns
/*
  - task_events.project_id, NULL for now (backfilled in 0040, required in
    0043). The history of a project's tasks is visible to its members and
    goes with the project (foreign key, NOT VALID until 0042).
  - task_events.actor_id becomes NULL when that account is deleted (and
    user_id, the task's creator, from 0043 on), instead of taking the
    project's history with it. The append-only trigger lets SET NULL through:
    like the cascades it already allowed, they run inside a foreign key's
    trigger (pg_trigger_depth() > 1), which the app cannot reach otherwise.
  - The history trigger records project_id. Its check that a statement
    writes history only for the identity in force (0028) becomes: every
    event it writes is for a task in a project the actor may edit. It
    applies to the statements the app issues; cascades (deleting a user or a
    project) are checked by the foreign keys that start them. A hard
    delete that comes with its project's deletion leaves no event: the
    project's history goes with it.
*/
set local lock_timeout = '5s';
set local statement_timeout = '30s';

alter table app.task_events add column project_id uuid;

comment on column app.task_events.project_id is
'The task''s project; members see its history, and it goes with the project.';

alter table app.task_events
add constraint task_events_project_id_fkey foreign key (project_id)
references app.projects (id) on delete cascade not valid;

comment on constraint task_events_project_id_fkey on app.task_events is
'The project exists; deleting it deletes its history.';

alter table app.task_events
add constraint task_events_actor_id_fkey foreign key (actor_id) references app.users (id) on delete set null not valid;

comment on constraint task_events_actor_id_fkey on app.task_events is
'The actor; deleting that user keeps the history (actor_id NULL).';

comment on column app.task_events.actor_id is
'The identity in force (app.user_id) when it happened; null for maintenance without one, or once deleted.';

create or replace function app_private.tg_task_events__append_only() returns trigger
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  if pg_catalog.pg_trigger_depth() > 1 and tg_op in ('DELETE', 'UPDATE') then
    return null;  -- a foreign key's action: a project's history goes with it, a deleted account's id is cleared
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
  -- A statement the app issued, not a foreign key's action (deleting a user or a project).
  checked constant boolean := not privileged and pg_catalog.pg_trigger_depth() = 1;
  foreign_rows boolean := false;
begin
  -- The retention job acts for nobody: its events carry no actor.
  if privileged and pg_catalog.current_setting('tododb.retention_job', true) = 'on' then
    actor := null;
  end if;
  -- History is written only for tasks in projects the identity in force may edit, as task_events' insert
  -- policy demands when the schema owner is not a superuser: a statement that changes app.user_id while it
  -- runs (set_config in its RETURNING list) must not record another actor, or none, where a superuser owns
  -- the schema. Until the backfill is done, a task without a project counts as its creator's.
  if checked then
    if tg_op = 'INSERT' then
      foreign_rows := exists (
        select from new_rows as n
        where not coalesce(
          n.project_id in (
            select m.project_id from app.project_members as m where m.user_id = actor and m.role <> 'viewer'
          )
          or (n.project_id is null and n.user_id = actor),
          false
        )
      );
    elsif tg_op = 'UPDATE' then
      foreign_rows := exists (
        select from old_rows as o
        inner join new_rows as n on n.id = o.id
        where
          (o.status is distinct from n.status or (o.deleted_at is null) <> (n.deleted_at is null))
          and not coalesce(
          n.project_id in (
            select m.project_id from app.project_members as m where m.user_id = actor and m.role <> 'viewer'
          )
          or (n.project_id is null and n.user_id = actor),
          false
        )
      );
    else
      foreign_rows := exists (
        select from old_rows as o
        where not coalesce(
          o.project_id in (
            select m.project_id from app.project_members as m where m.user_id = actor and m.role <> 'viewer'
          )
          or (o.project_id is null and o.user_id = actor),
          false
        )
      );
    end if;
    if foreign_rows then
      raise exception 'task history is written only for the identity in force'
        using errcode = 'insufficient_privilege', schema = tg_table_schema, table = tg_table_name;
    end if;
  end if;
  if tg_op = 'INSERT' then
    insert into app.task_events (user_id, project_id, task_id, actor_id, kind, new_status)
    select n.user_id, n.project_id, n.id, actor, 'created', n.status
    from new_rows as n;
  elsif tg_op = 'UPDATE' then
    insert into app.task_events (user_id, project_id, task_id, actor_id, kind, old_status, new_status)
    select n.user_id, n.project_id, n.id, actor, e.kind, e.old_status, e.new_status
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
    -- A task deleted with its project (or its creator's account, before the backfill) leaves no event.
    insert into app.task_events (user_id, project_id, task_id, actor_id, kind)
    select o.user_id, o.project_id, o.id, actor, 'hard_deleted'
    from old_rows as o
    where
      (
        exists (select from app.projects as p where p.id = o.project_id)
        or (o.project_id is null and exists (select from app.users as u where u.id = o.user_id))
      )
      and not exists (select from app.tasks_archive as a where a.id = o.id);
  end if;
  return null;
end;
$$;
