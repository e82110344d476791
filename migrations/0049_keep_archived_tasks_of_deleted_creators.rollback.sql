-- Back to archived tasks deleted with their creator, and links archived by the creator's key.
-- A link by someone other than the task's creator, or a task without one, cannot go back: the rollback then fails.
-- squawk-ignore-file ban-drop-constraint, constraint-missing-not-valid, adding-foreign-key-constraint
-- squawk-ignore-file adding-not-nullable-field
-- (A rollback exists to undo what its migration did.)
set local lock_timeout = '5s';
set local statement_timeout = '30s';

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

alter table app.task_tags_archive drop constraint task_tags_archive_task_id_fkey;

alter table app.task_tags_archive
add constraint task_tags_archive_user_id_task_id_fkey foreign key (user_id, task_id)
references app.tasks_archive (user_id, id) on delete cascade;

comment on constraint task_tags_archive_user_id_task_id_fkey on app.task_tags_archive is
'The archived task exists and belongs to the link''s user.';

comment on column app.task_tags_archive.user_id is 'The owner of both the archived task and the tag.';

comment on column app.task_tags_archive.task_id is 'The archived task (same owner, by key).';

alter table app.tasks_archive drop constraint tasks_archive_user_id_fkey;

alter table app.tasks_archive
add constraint tasks_archive_user_id_fkey foreign key (user_id) references app.users (id) on delete cascade;

comment on constraint tasks_archive_user_id_fkey on app.tasks_archive is
'The owner exists; deleting the user deletes their archived tasks.';

alter table app.tasks_archive alter column user_id set not null;

comment on column app.tasks_archive.user_id is 'The owner; deleting the user deletes the archived task.';
