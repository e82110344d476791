-- Record task creation, status changes, soft delete, restore and hard delete in task_events.
-- depends: 0015_secure_task_events
/*
  Statement-level triggers with transition tables: one insert per statement,
  whatever the number of rows (a bulk load of millions of tasks writes its
  history in one pass instead of one trigger call per row). A trigger with
  transition tables may have only one event, hence three triggers.

  The function is SECURITY DEFINER (owner's rights, `search_path` pinned to
  '' and every name qualified), so history is written although the app role
  may not write task_events itself.

  actor_id is the identity in force (app.current_user_id()); a malformed
  identity fails the write (fail closed) instead of recording a wrong actor.
  A hard delete that is the cascade from deleting the user records nothing:
  that user's history is being deleted too. It is recognised by the user
  being gone already, not by pg_trigger_depth(): the foreign key's cascade
  runs its delete with the statement's AFTER triggers deferred to the outer
  statement, at depth 1.

  Under forced row-level security this function (the schema owner's rights)
  passes task_events' insert policy because the rows it writes belong to the
  identity in force. A superuser bypasses row-level security; an ordinary
  owner doing maintenance sets the identity of the user it works for.
*/
set local lock_timeout = '5s';
set local statement_timeout = '30s';

create function app_private.tg_tasks__record_events() returns trigger
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

create trigger _900_record_insert_events
after insert on app.tasks
referencing new table as new_rows
for each statement execute function app_private.tg_tasks__record_events();

comment on trigger _900_record_insert_events on app.tasks is 'Records each new task (kind created).';

create trigger _900_record_update_events
after update on app.tasks
referencing old table as old_rows new table as new_rows
for each statement execute function app_private.tg_tasks__record_events();

comment on trigger _900_record_update_events on app.tasks is
'Records status changes, soft deletes and restores.';

create trigger _900_record_delete_events
after delete on app.tasks
referencing old table as old_rows
for each statement execute function app_private.tg_tasks__record_events();

comment on trigger _900_record_delete_events on app.tasks is
'Records hard deletes, except the cascade from deleting the user.';
