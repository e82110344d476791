-- Drop the tasks archive and the maintenance functions; history records every delete again.
-- squawk-ignore-file ban-drop-function, ban-drop-table
-- (A rollback exists to drop what its migration created; it refuses while the archive holds data.)
set local lock_timeout = '5s';
set local statement_timeout = '30s';

do $$
begin
  if exists (select from app.tasks_archive) then
    raise exception 'the tasks archive holds data: rolling back would lose it'
      using
        errcode = 'object_not_in_prerequisite_state',
        hint = 'move the archived tasks back into app.tasks first, or keep this migration';
  end if;
end;
$$;

drop function app_private.purge_deleted_tasks(timestamptz, integer);

drop function app_private.archive_completed_tasks(timestamptz, integer);

create or replace function app_private.tg_tasks__record_events() returns trigger
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  actor uuid := app.current_user_id();
begin
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
    where exists (select from app.users as u where u.id = o.user_id);
  end if;
  return null;
end;
$$;

comment on function app_private.tg_tasks__record_events() is
'Trigger: appends created, status_changed, deleted, restored and hard_deleted events to task_events.';

comment on trigger _900_record_delete_events on app.tasks is
'Records hard deletes, except the cascade from deleting the user.';

drop table app.task_tags_archive;

drop table app.tasks_archive;
