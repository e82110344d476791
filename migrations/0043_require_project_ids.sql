-- Contract: project_id is required; policies without the backfill's arms; user_id becomes "created by".
-- depends: 0042_validate_project_keys
-- squawk-ignore-file ban-drop-constraint, ban-drop-function, ban-drop-not-null
-- (The contract step: the checks are replaced by NOT NULL, the backfill's switch is done with, and user_id
-- may be NULL on purpose, see below.)
/*
  - SET NOT NULL on tasks.project_id and task_events.project_id: PostgreSQL
    proves it from the checks validated in 0042 and does not scan; the
    checks then go.
  - The policies of 0038 lose their `project_id is null` arms, the history
    trigger its matching branch; the `_backfill` policies and their switch go.
  - The timestamps trigger on tasks is one trigger again (0036 split it to
    leave the backfill's first filling in of project_id alone).
  - tasks.user_id and task_events.user_id are the creator, NULL once that
    account is deleted: a member's tasks stay in projects they do not own
    (the ones in their own projects go with those projects). The foreign
    keys now SET NULL; added NOT VALID, validated in 0044.
*/
set local lock_timeout = '5s';
set local statement_timeout = '30s';

-- squawk-ignore adding-not-nullable-field
alter table app.tasks alter column project_id set not null;

alter table app.tasks drop constraint tasks_project_id_not_null_check;

-- squawk-ignore adding-not-nullable-field
alter table app.task_events alter column project_id set not null;

alter table app.task_events drop constraint task_events_project_id_not_null_check;

drop policy task_events_update_backfill on app.task_events;
drop policy task_events_select_backfill on app.task_events;
drop policy tasks_update_backfill on app.tasks;
drop policy tasks_select_backfill on app.tasks;
drop policy projects_insert_backfill on app.projects;
drop policy users_select_backfill on app.users;
drop function app_private.backfilling_projects();

drop policy tasks_select_member on app.tasks;
drop policy tasks_insert_editor on app.tasks;
drop policy tasks_update_editor on app.tasks;
drop policy tasks_delete_editor on app.tasks;
drop policy task_events_select_member on app.task_events;
drop policy task_events_insert_editor on app.task_events;

create policy tasks_select_member on app.tasks for select
using (
  project_id in (
    select m.project_id from app.project_members as m
    where m.user_id = (select app.current_user_id())
  )
);

comment on policy tasks_select_member on app.tasks is 'A member sees the project''s tasks.';

create policy tasks_insert_editor on app.tasks for insert
with check (
  user_id = (select app.current_user_id())
  and project_id in (
    select m.project_id from app.project_members as m
    where m.user_id = (select app.current_user_id()) and m.role <> 'viewer'
  )
);

comment on policy tasks_insert_editor on app.tasks is
'An owner or editor adds tasks to the project, as their creator.';

create policy tasks_update_editor on app.tasks for update
using (
  project_id in (
    select m.project_id from app.project_members as m
    where m.user_id = (select app.current_user_id()) and m.role <> 'viewer'
  )
)
with check (
  project_id in (
    select m.project_id from app.project_members as m
    where m.user_id = (select app.current_user_id()) and m.role <> 'viewer'
  )
);

comment on policy tasks_update_editor on app.tasks is
'An owner or editor changes the project''s tasks (and may move them to another project they edit).';

create policy tasks_delete_editor on app.tasks for delete
using (
  project_id in (
    select m.project_id from app.project_members as m
    where m.user_id = (select app.current_user_id()) and m.role <> 'viewer'
  )
);

comment on policy tasks_delete_editor on app.tasks is 'An owner or editor hard-deletes the project''s tasks.';

create policy task_events_select_member on app.task_events for select
using (
  project_id in (
    select m.project_id from app.project_members as m
    where m.user_id = (select app.current_user_id())
  )
);

comment on policy task_events_select_member on app.task_events is 'A member reads the history of the project''s tasks.';

create policy task_events_insert_editor on app.task_events for insert
with check (
  project_id in (
    select m.project_id from app.project_members as m
    where m.user_id = (select app.current_user_id()) and m.role <> 'viewer'
  )
);

comment on policy task_events_insert_editor on app.task_events is
'The history trigger (the owner''s rights) writes events only for projects the identity may edit.';

drop trigger _100_timestamps_on_update on app.tasks;

drop trigger _100_timestamps on app.tasks;

create trigger _100_timestamps
before insert or update on app.tasks
for each row execute function app_private.tg__timestamps();

comment on trigger _100_timestamps on app.tasks is 'Keeps created_at fixed and moves updated_at forward.';

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
  -- the schema.
  if checked then
    if tg_op = 'INSERT' then
      foreign_rows := exists (
        select from new_rows as n
        where n.project_id not in (
          select m.project_id from app.project_members as m where m.user_id = actor and m.role <> 'viewer'
        )
      );
    elsif tg_op = 'UPDATE' then
      foreign_rows := exists (
        select from old_rows as o
        inner join new_rows as n on n.id = o.id
        where
          (o.status is distinct from n.status or (o.deleted_at is null) <> (n.deleted_at is null))
          and n.project_id not in (
          select m.project_id from app.project_members as m where m.user_id = actor and m.role <> 'viewer'
        )
      );
    else
      foreign_rows := exists (
        select from old_rows as o
        where o.project_id not in (
          select m.project_id from app.project_members as m where m.user_id = actor and m.role <> 'viewer'
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
    -- A task deleted with its project leaves no event: the project's history goes with it.
    insert into app.task_events (user_id, project_id, task_id, actor_id, kind)
    select o.user_id, o.project_id, o.id, actor, 'hard_deleted'
    from old_rows as o
    where
      exists (select from app.projects as p where p.id = o.project_id)
      and not exists (select from app.tasks_archive as a where a.id = o.id);
  end if;
  return null;
end;
$$;

alter table app.tasks alter column user_id drop not null;

alter table app.tasks drop constraint tasks_user_id_fkey;

alter table app.tasks
add constraint tasks_user_id_fkey foreign key (user_id) references app.users (id) on delete set null not valid;

comment on constraint tasks_user_id_fkey on app.tasks is
'The creator; deleting that user keeps the task (user_id NULL), unless it goes with a project they own.';

comment on column app.tasks.user_id is
'Who created the task (defaults to the identity); NULL once that user is deleted.';

alter table app.task_events alter column user_id drop not null;

alter table app.task_events drop constraint task_events_user_id_fkey;

alter table app.task_events
add constraint task_events_user_id_fkey foreign key (user_id) references app.users (id) on delete set null not valid;

comment on constraint task_events_user_id_fkey on app.task_events is
'The task''s creator; deleting that user keeps the history (user_id NULL).';

comment on column app.task_events.user_id is 'The task''s creator; NULL once that user is deleted.';
