-- Back to the expand state: project_id may be NULL again, the backfill's policies and arms return.
-- A task or history row without a creator (user_id NULL) cannot go back: set not null then fails, and the rollback.
-- squawk-ignore-file ban-drop-constraint, ban-drop-not-null
-- squawk-ignore-file constraint-missing-not-valid, adding-foreign-key-constraint, adding-not-nullable-field
-- (A rollback exists to undo what its migration did; the checks it adds back were valid before 0043.)
set local lock_timeout = '5s';
set local statement_timeout = '30s';

alter table app.task_events drop constraint task_events_user_id_fkey;

alter table app.task_events
add constraint task_events_user_id_fkey foreign key (user_id) references app.users (id) on delete cascade;

comment on constraint task_events_user_id_fkey on app.task_events is
'The owner exists; deleting the user deletes their history.';

alter table app.task_events alter column user_id set not null;

comment on column app.task_events.user_id is 'The task''s owner; deleting the user deletes the history.';

alter table app.tasks drop constraint tasks_user_id_fkey;

alter table app.tasks
add constraint tasks_user_id_fkey foreign key (user_id) references app.users (id) on delete cascade;

comment on constraint tasks_user_id_fkey on app.tasks is 'The owner exists; deleting the user deletes their tasks.';

alter table app.tasks alter column user_id set not null;

comment on column app.tasks.user_id is 'The owner; deleting the user deletes the task.';

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

drop trigger _100_timestamps on app.tasks;

create trigger _100_timestamps
before insert on app.tasks
for each row execute function app_private.tg__timestamps();

comment on trigger _100_timestamps on app.tasks is 'Keeps created_at fixed and moves updated_at forward.';

create trigger _100_timestamps_on_update
before update on app.tasks
for each row
when (old.project_id is not null or new.project_id is null)
execute function app_private.tg__timestamps();

comment on trigger _100_timestamps_on_update on app.tasks is
'Moves updated_at forward on every change but the backfill''s first filling in of project_id.';

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
  or (project_id is null and user_id = (select app.current_user_id()))
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
  or (project_id is null and user_id = (select app.current_user_id()))
)
with check (
  project_id in (
    select m.project_id from app.project_members as m
    where m.user_id = (select app.current_user_id()) and m.role <> 'viewer'
  )
  or (project_id is null and user_id = (select app.current_user_id()))
);

comment on policy tasks_update_editor on app.tasks is
'An owner or editor changes the project''s tasks (and may move them to another project they edit).';

create policy tasks_delete_editor on app.tasks for delete
using (
  project_id in (
    select m.project_id from app.project_members as m
    where m.user_id = (select app.current_user_id()) and m.role <> 'viewer'
  )
  or (project_id is null and user_id = (select app.current_user_id()))
);

comment on policy tasks_delete_editor on app.tasks is 'An owner or editor hard-deletes the project''s tasks.';

create policy task_events_select_member on app.task_events for select
using (
  project_id in (
    select m.project_id from app.project_members as m
    where m.user_id = (select app.current_user_id())
  )
  or (project_id is null and user_id = (select app.current_user_id()))
);

comment on policy task_events_select_member on app.task_events is 'A member reads the history of the project''s tasks.';

create policy task_events_insert_editor on app.task_events for insert
with check (
  project_id in (
    select m.project_id from app.project_members as m
    where m.user_id = (select app.current_user_id()) and m.role <> 'viewer'
  )
  or (project_id is null and user_id = (select app.current_user_id()))
);

comment on policy task_events_insert_editor on app.task_events is
'The history trigger (the owner''s rights) writes events only for projects the identity may edit.';

create function app_private.backfilling_projects() returns boolean
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select
    pg_catalog.current_setting('tododb.backfill_projects', true) operator(pg_catalog.=) 'on'
    and pg_catalog.pg_has_role(
      session_user,
      (select n.nspowner from pg_catalog.pg_namespace as n where n.nspname operator(pg_catalog.=) 'app'),
      'USAGE'
    );
$$;

comment on function app_private.backfilling_projects() is
'True while the schema owner''s backfill of projects runs (0040), in its own transactions only.';

revoke all on function app_private.backfilling_projects() from public;

grant execute on function app_private.backfilling_projects() to todo_app, todo_readonly, todo_auth;

create policy users_select_backfill on app.users for select
using ((select app_private.backfilling_projects()));

comment on policy users_select_backfill on app.users is 'Until 0043: the backfill finds every user.';

create policy projects_insert_backfill on app.projects for insert
with check (is_inbox and (select app_private.backfilling_projects()));

comment on policy projects_insert_backfill on app.projects is 'Until 0043: the backfill creates the missing inboxes.';

-- Not only the rows without a project: an UPDATE that reads columns must leave a row its select policies
-- still show (42501 otherwise), and once moved a row has a project the owner, without an identity, is not in.
create policy tasks_select_backfill on app.tasks for select
using ((select app_private.backfilling_projects()));

comment on policy tasks_select_backfill on app.tasks is
'Until 0043: the backfill finds tasks without a project, and sees them once moved.';

create policy tasks_update_backfill on app.tasks for update
using (project_id is null and (select app_private.backfilling_projects()))
with check ((select app_private.backfilling_projects()));

comment on policy tasks_update_backfill on app.tasks is 'Until 0043: the backfill moves them into an inbox.';

-- Not only the rows without a project: an UPDATE that reads columns must leave a row its select policies
-- still show (42501 otherwise), and once moved a row has a project the owner, without an identity, is not in.
create policy task_events_select_backfill on app.task_events for select
using ((select app_private.backfilling_projects()));

comment on policy task_events_select_backfill on app.task_events is
'Until 0043: the backfill finds history without a project, and sees it once filled in.';

create policy task_events_update_backfill on app.task_events for update
using (project_id is null and (select app_private.backfilling_projects()))
with check ((select app_private.backfilling_projects()));

comment on policy task_events_update_backfill on app.task_events is
'Until 0043: the backfill fills in its project.';

alter table app.task_events alter column project_id drop not null;

alter table app.task_events
add constraint task_events_project_id_not_null_check check (project_id is not null);

alter table app.tasks alter column project_id drop not null;

alter table app.tasks
add constraint tasks_project_id_not_null_check check (project_id is not null);
