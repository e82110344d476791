-- Keep a deleted member's archived tasks in other people's projects, and archive every tag link with its task.
-- depends: 0048_close_sharing_review_gaps
-- squawk-ignore-file ban-drop-not-null, ban-drop-constraint
-- (user_id may be NULL on purpose, as in tasks since 0043; the keys are replaced by the ones below.)
/*
  Since 0043 deleting a user keeps their tasks in projects they do not own,
  with user_id NULL; the archive still deleted them (tasks_archive_user_id_fkey
  on delete cascade), so a member who left took their archived work out of
  the project. Now tasks_archive.user_id is "created by" too and is set NULL.

  task_tags_archive referenced (user_id, task_id): only the creator's own
  links could follow a task into the archive, and other members' tags on a
  shared task were lost with it. A link now references the archived task by
  id, like task_tags (0036), and the archive job moves every link of the
  task, whoever tagged it. The job needs no identity (it runs only where row
  level security is bypassed; its deletes leave no hard_deleted event through
  the switch 0048 reads) and takes tasks without a creator too.

  Keys NOT VALID here, validated in 0050; the index for the new one in 0051.
*/
set local lock_timeout = '5s';
set local statement_timeout = '30s';

alter table app.tasks_archive alter column user_id drop not null;

alter table app.tasks_archive drop constraint tasks_archive_user_id_fkey;

alter table app.tasks_archive
add constraint tasks_archive_user_id_fkey foreign key (user_id) references app.users (id) on delete set null not valid;

comment on constraint tasks_archive_user_id_fkey on app.tasks_archive is
'The creator; deleting that user keeps the archived task (user_id NULL), unless it goes with a project they own.';

comment on column app.tasks_archive.user_id is 'Who created the task; NULL once that user is deleted.';

alter table app.task_tags_archive drop constraint task_tags_archive_user_id_task_id_fkey;

alter table app.task_tags_archive
add constraint task_tags_archive_task_id_fkey foreign key (task_id)
references app.tasks_archive (id) on delete cascade not valid;

comment on constraint task_tags_archive_task_id_fkey on app.task_tags_archive is
'The archived task exists; deleting it removes its links.';

comment on column app.task_tags_archive.user_id is
'The tagger: the link and the tag are theirs, the task may be shared.';

comment on column app.task_tags_archive.task_id is 'The archived task.';

create or replace function app_private.archive_completed_tasks(completed_before timestamptz, batch_size integer)
returns integer
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  ids pg_catalog.uuid[];
begin
  select pg_catalog.array_agg(c.id) into ids
  from (
    select t.id
    from app.tasks as t
    where t.status = 'completed' and t.completed_at < completed_before and t.deleted_at is null
    order by t.completed_at, t.id
    limit batch_size
    for update skip locked
  ) as c;
  if ids is null then
    return 0;
  end if;
  -- Moved, not deleted: the history trigger writes no hard_deleted event for these (0048).
  perform pg_catalog.set_config('tododb.archive_job', 'on', true);
  insert into app.tasks_archive (
    id, user_id, project_id, title, description, status, priority, due_at, completed_at, estimated_hours,
    deleted_at, created_at, updated_at
  )
  select
    t.id, t.user_id, t.project_id, t.title, t.description, t.status, t.priority, t.due_at, t.completed_at,
    t.estimated_hours, t.deleted_at, t.created_at, t.updated_at
  from app.tasks as t
  where t.id = any(ids);
  insert into app.task_tags_archive (user_id, task_id, tag_id, created_at)
  select tt.user_id, tt.task_id, tt.tag_id, tt.created_at
  from app.task_tags as tt
  where tt.task_id = any(ids);
  delete from app.tasks as t where t.id = any(ids);
  perform pg_catalog.set_config('tododb.archive_job', '', true);
  return pg_catalog.cardinality(ids);
end;
$$;
