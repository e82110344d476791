-- Create the append-only task history table.
-- depends: 0013_secure_task_tags
/*
  One row per event, ordered by the identity id: a task's creation, every
  status change (old and new status in one row), soft delete, restore and
  hard delete. Rows are written by triggers on tasks (0016), never by the app.

  task_id has no foreign key on purpose: the history of a hard-deleted task
  stays. actor_id has none either: it records the identity in force when the
  event happened, a fact that must not change or vanish with later data.
  user_id cascades: deleting a user deletes their history.

  Append-only: the `_100_append_only` trigger refuses UPDATE, DELETE and
  TRUNCATE (class 23, constraint `task_events_append_only`) except on the
  owner's maintenance paths: the cascade from deleting a user (it runs nested
  inside the foreign key's trigger), or the table owner after
  `set local tododb.history_maintenance = 'on'`. The app role can set that
  setting too, but it is not the owner, so it is still refused.
*/
set local lock_timeout = '5s';
set local statement_timeout = '30s';

create domain app.task_event_kind as text
-- squawk-ignore ban-create-domain-with-constraint
constraint task_event_kind_check check (
  value in ('created', 'status_changed', 'deleted', 'restored', 'hard_deleted')
);

comment on domain app.task_event_kind is
'What happened to a task: created, status_changed, deleted (soft), restored, hard_deleted.';
comment on constraint task_event_kind_check on domain app.task_event_kind is
'One of created, status_changed, deleted, restored, hard_deleted.';

create table app.task_events (
  id bigint generated always as identity,
  user_id uuid not null,
  task_id uuid not null,
  actor_id uuid,
  kind app.task_event_kind not null,
  old_status app.task_status,
  new_status app.task_status,
  created_at timestamptz not null default now(),
  constraint task_events_pkey primary key (id),
  constraint task_events_user_id_fkey foreign key (user_id) references app.users (id) on delete cascade,
  constraint task_events_statuses_match_kind_check check (
    case kind
      when 'created' then old_status is null and new_status is not null
      when 'status_changed' then old_status is not null and new_status is not null and old_status <> new_status
      else old_status is null and new_status is null
    end
  )
);

comment on table app.task_events is
'Append-only history of tasks, written by triggers; survives the task''s deletion, goes with its user.';
comment on column app.task_events.id is 'Orders the history.';
comment on column app.task_events.user_id is 'The task''s owner; deleting the user deletes the history.';
comment on column app.task_events.task_id is 'The task; no foreign key, so history outlives a hard delete.';
comment on column app.task_events.actor_id is
'The identity in force (app.user_id) when it happened; null for maintenance without one.';
comment on column app.task_events.kind is 'created, status_changed, deleted, restored or hard_deleted.';
comment on column app.task_events.old_status is 'For status_changed: the status before.';
comment on column app.task_events.new_status is 'For status_changed: the status after; for created: the first status.';
comment on column app.task_events.created_at is 'When it happened (the transaction''s time).';
comment on constraint task_events_user_id_fkey on app.task_events is
'The owner exists; deleting the user deletes their history.';
comment on constraint task_events_statuses_match_kind_check on app.task_events is
'created has only new_status; status_changed has two different statuses; other kinds have none.';

-- A task's history, and the cascade when a user is deleted.
create index task_events_user_id_task_id_idx on app.task_events (user_id, task_id, id);

comment on index app.task_events_user_id_task_id_idx is
'Serves a task''s history (in order) and the foreign key to users.';

create function app_private.tg_task_events__append_only() returns trigger
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

comment on function app_private.tg_task_events__append_only() is
'Trigger: refuses UPDATE, DELETE and TRUNCATE of history, but for a user''s deletion and the owner''s maintenance.';

create trigger _100_append_only
before update or delete or truncate on app.task_events
for each statement execute function app_private.tg_task_events__append_only();

comment on trigger _100_append_only on app.task_events is 'History is append-only.';
