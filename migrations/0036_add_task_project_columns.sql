-- Expand tasks for sharing: project_id (filled in on insert) and assignee_id; tags go on shared tasks.
-- depends: 0035_secure_projects 0028_make_retention_skip_locked
/*
  The expand step of expand -> backfill (0040) -> contract (0041-0043), safe
  on a live table: every statement here takes its lock for a moment and
  scans nothing.

  - tasks.project_id, NULL for now. A task inserted without one goes to the
    inbox of its user_id (trigger _010_default_project: an inbox's id is
    its owner's id, 0031), so the owner's maintenance inserting an explicit
    user_id and no identity still works, and so does an app that does not
    know about projects yet. Its foreign key is added NOT VALID and
    validated once the backfill is done (0042).
  - tasks.assignee_id: a member of the task's project. The foreign key
    (project_id, assignee_id) -> project_members says so and, with
    `on delete set null (assignee_id)` (PostgreSQL 15+), clears it when the
    member leaves or is removed.
  - tasks.user_id becomes "created by" in 0043, with the NULLs gone: until
    then deleting a user still deletes every task they created.
  - task_tags links a task (any task the tagger can see) with one of the
    tagger's tags: the task's foreign key no longer includes user_id.
  - tasks_archive keeps the project of an archived task.

  Until the backfill has run, a task's updated_at is left alone when its
  project_id is first filled in (the timestamps trigger's WHEN clause): that
  is not a user's edit. 0043 restores the single trigger.
*/
set local lock_timeout = '5s';
set local statement_timeout = '30s';

alter table app.tasks add column project_id uuid;

comment on column app.tasks.project_id is
'The project the task is in; on insert it defaults to the inbox of user_id. Deleting the project deletes it.';

alter table app.tasks add column assignee_id uuid;

comment on column app.tasks.assignee_id is
'Optional: the member responsible for it; cleared when they leave the project.';

alter table app.tasks
add constraint tasks_project_id_fkey foreign key (project_id)
references app.projects (id) on delete cascade not valid;

comment on constraint tasks_project_id_fkey on app.tasks is
'The project exists; deleting it deletes its tasks.';

alter table app.tasks
add constraint tasks_assignee_membership_fkey foreign key (project_id, assignee_id)
references app.project_members (project_id, user_id) on delete set null (assignee_id) not valid;

comment on constraint tasks_assignee_membership_fkey on app.tasks is
'The assignee is a member of the task''s project; leaving it clears the assignment.';

-- Replaced by task_tags_task_id_fkey below: a tag may now go on a task someone else created.
-- squawk-ignore ban-drop-constraint
alter table app.task_tags drop constraint task_tags_user_id_task_id_fkey;

alter table app.task_tags
add constraint task_tags_task_id_fkey foreign key (task_id) references app.tasks (id) on delete cascade not valid;

comment on constraint task_tags_task_id_fkey on app.task_tags is
'The task exists; deleting it removes its links.';

comment on column app.task_tags.user_id is 'The tagger: the link and the tag are theirs, the task may be shared.';

alter table app.tasks_archive add column project_id uuid;

comment on column app.tasks_archive.project_id is 'The project the task was in.';

alter table app.tasks_archive
add constraint tasks_archive_project_id_fkey foreign key (project_id)
references app.projects (id) on delete cascade not valid;

comment on constraint tasks_archive_project_id_fkey on app.tasks_archive is
'The project exists; deleting it deletes its archived tasks.';

create function app_private.tg_tasks__default_project() returns trigger
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  -- An inbox's id is its owner's id (projects_inbox_id_check).
  new.project_id := coalesce(new.project_id, new.user_id);
  return new;
end;
$$;

comment on function app_private.tg_tasks__default_project() is
'Trigger: a task inserted without a project goes to the inbox of its user_id.';

revoke all on function app_private.tg_tasks__default_project() from public;

create trigger _010_default_project
before insert on app.tasks
for each row execute function app_private.tg_tasks__default_project();

comment on trigger _010_default_project on app.tasks is 'Puts a task inserted without a project in the inbox.';

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
      where
        t.status = 'completed'
        and t.completed_at < completed_before
        and t.deleted_at is null
        and t.user_id is not null
      order by t.completed_at, t.id
      limit batch_size
      for update skip locked
    ) as c
    group by c.user_id
  loop
    perform pg_catalog.set_config('app.user_id', batch.user_id::pg_catalog.text, true);
    insert into app.tasks_archive (
      id, user_id, project_id, title, description, status, priority, due_at, completed_at, estimated_hours,
      deleted_at, created_at, updated_at
    )
    select
      t.id, t.user_id, t.project_id, t.title, t.description, t.status, t.priority, t.due_at, t.completed_at,
      t.estimated_hours, t.deleted_at, t.created_at, t.updated_at
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
