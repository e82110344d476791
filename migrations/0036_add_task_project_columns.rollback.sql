-- Take sharing's columns off tasks, task_tags and tasks_archive again.
-- squawk-ignore-file ban-drop-function, ban-drop-column
-- squawk-ignore-file ban-drop-constraint, constraint-missing-not-valid, adding-foreign-key-constraint
-- (A rollback exists to undo what its migration did.)
-- A link by someone other than the task's creator cannot go back: the composite key then fails, and the rollback.
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

drop trigger _100_timestamps_on_update on app.tasks;

drop trigger _100_timestamps on app.tasks;

create trigger _100_timestamps
before insert or update on app.tasks
for each row execute function app_private.tg__timestamps();

comment on trigger _100_timestamps on app.tasks is 'Keeps created_at fixed and moves updated_at forward.';

drop trigger _010_default_project on app.tasks;

drop function app_private.tg_tasks__default_project();

alter table app.tasks_archive drop column project_id;

alter table app.task_tags drop constraint task_tags_task_id_fkey;

alter table app.task_tags
add constraint task_tags_user_id_task_id_fkey foreign key (user_id, task_id)
references app.tasks (user_id, id) on delete cascade;

comment on constraint task_tags_user_id_task_id_fkey on app.task_tags is
'The task exists and belongs to the link''s user.';

comment on column app.task_tags.user_id is 'The owner of both the task and the tag.';

alter table app.tasks drop column assignee_id;

alter table app.tasks drop column project_id;
