-- Create the archive of old completed tasks, and the maintenance functions that archive and purge tasks.
-- depends: 0020_create_tasks_undated_open_index
/*
  Completed tasks pile up: after a year they are moved out of the hot table
  into app.tasks_archive (the same columns, plus archived_at), with their tag
  links into app.task_tags_archive, so the indexes the app reads stay small.
  Both archive tables have the same forced row-level security as the tables
  they come from: a user reads their own archived tasks (select only, for
  todo_app and todo_readonly); nothing but the maintenance function writes.

  app_private.archive_completed_tasks() and app_private.purge_deleted_tasks()
  each handle one batch of at most batch_size tasks in the caller's
  transaction and return how many they handled; `tooling maintain` calls them
  in a loop, one transaction per batch, so locks are short and an
  interrupted run keeps every finished batch and loses nothing of the
  unfinished one. Rows are locked (FOR UPDATE) before they move: a task the
  app is changing at that moment is waited for, never half-archived.

  They must run as a role that bypasses row-level security (a superuser, or
  the owner with BYPASSRLS) to see every user's tasks; inside, each user's
  rows are moved with that user's identity set, so the history trigger (the
  owner's rights, held to task_events' policies) may record the events.
  History records a purge as 'hard_deleted', with the task's owner as the
  actor (the retention rule acts on their behalf). Archiving records
  nothing: the task still exists, in the archive, under the same id, and its
  history stays valid. (A new event kind would mean replacing the domain's
  check; on PostgreSQL 18 a second ALTER DOMAIN on its constraints in one
  transaction fails with XX000 "unprocessed inval messages" when run inside
  a savepoint, as the runner's steps are.)
*/
set local lock_timeout = '5s';
set local statement_timeout = '30s';

-- squawk-ignore prefer-robust-stmts
create table app.tasks_archive (
  id uuid not null,
  user_id uuid not null,
  title text not null,
  description text,
  status app.task_status not null,
  priority app.task_priority not null,
  due_at timestamptz,
  completed_at timestamptz not null,
  estimated_hours numeric(6, 2),
  deleted_at timestamptz,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  archived_at timestamptz not null default now(),
  constraint tasks_archive_pkey primary key (id),
  constraint tasks_archive_user_id_id_key unique (user_id, id),
  constraint tasks_archive_user_id_fkey foreign key (user_id) references app.users (id) on delete cascade,
  constraint tasks_archive_status_completed_check check (status = 'completed')
);

comment on table app.tasks_archive is
'Completed tasks moved out of app.tasks by `tooling maintain archive`; read-only for the app.';
comment on column app.tasks_archive.id is 'The task''s id, unchanged (its history in task_events still applies).';
comment on column app.tasks_archive.user_id is 'The owner; deleting the user deletes the archived task.';
comment on column app.tasks_archive.title is 'As it was in app.tasks.';
comment on column app.tasks_archive.description is 'As it was in app.tasks.';
comment on column app.tasks_archive.status is 'Always completed: only completed tasks are archived.';
comment on column app.tasks_archive.priority is 'As it was in app.tasks.';
comment on column app.tasks_archive.due_at is 'As it was in app.tasks.';
comment on column app.tasks_archive.completed_at is
'When the task was completed; the archive cutoff is measured on it.';
comment on column app.tasks_archive.estimated_hours is 'As it was in app.tasks.';
comment on column app.tasks_archive.deleted_at is 'As it was in app.tasks (tasks in the bin are purged, not archived).';
comment on column app.tasks_archive.created_at is 'When the task was created; never changes.';
comment on column app.tasks_archive.updated_at is 'When the task last changed before it was archived.';
comment on column app.tasks_archive.archived_at is 'When the task was moved into the archive.';
comment on constraint tasks_archive_user_id_id_key on app.tasks_archive is
'Lets task_tags_archive reference a task together with its owner; also serves the user_id foreign key.';
comment on constraint tasks_archive_user_id_fkey on app.tasks_archive is
'The owner exists; deleting the user deletes their archived tasks.';
comment on constraint tasks_archive_status_completed_check on app.tasks_archive is
'Only completed tasks are archived.';

create trigger _100_timestamps
before insert or update on app.tasks_archive
for each row execute function app_private.tg__timestamps();

comment on trigger _100_timestamps on app.tasks_archive is
'Keeps created_at fixed (an archived row keeps the timestamps it had).';

-- squawk-ignore prefer-robust-stmts
create table app.task_tags_archive (
  user_id uuid not null,
  task_id uuid not null,
  tag_id uuid not null,
  created_at timestamptz not null,
  constraint task_tags_archive_pkey primary key (user_id, task_id, tag_id),
  constraint task_tags_archive_user_id_task_id_fkey foreign key (user_id, task_id)
  references app.tasks_archive (user_id, id) on delete cascade,
  constraint task_tags_archive_user_id_tag_id_fkey foreign key (user_id, tag_id)
  references app.tags (user_id, id) on delete cascade
);

comment on table app.task_tags_archive is 'The tag links of archived tasks, moved with them.';
comment on column app.task_tags_archive.user_id is 'The owner of both the archived task and the tag.';
comment on column app.task_tags_archive.task_id is 'The archived task (same owner, by key).';
comment on column app.task_tags_archive.tag_id is 'The tag (same owner, by key); deleting the tag deletes the link.';
comment on column app.task_tags_archive.created_at is 'When the tag was put on the task.';
comment on constraint task_tags_archive_user_id_task_id_fkey on app.task_tags_archive is
'The archived task exists and belongs to the link''s user.';
comment on constraint task_tags_archive_user_id_tag_id_fkey on app.task_tags_archive is
'The tag exists and belongs to the link''s user; deleting the tag deletes the link.';

-- The table is created in this migration and empty: a plain index build locks nothing in use.
-- squawk-ignore require-concurrent-index-creation
create index task_tags_archive_user_id_tag_id_idx on app.task_tags_archive (user_id, tag_id);

comment on index app.task_tags_archive_user_id_tag_id_idx is 'Serves the foreign key to tags (deleting a tag).';

alter table app.tasks_archive enable row level security;

alter table app.tasks_archive force row level security;

create policy tasks_archive_select_own on app.tasks_archive for select
using (user_id = (select app.current_user_id()));

comment on policy tasks_archive_select_own on app.tasks_archive is 'A user sees only their own archived tasks.';

alter table app.task_tags_archive enable row level security;

alter table app.task_tags_archive force row level security;

create policy task_tags_archive_select_own on app.task_tags_archive for select
using (user_id = (select app.current_user_id()));

comment on policy task_tags_archive_select_own on app.task_tags_archive is
'A user sees only the links of their own archived tasks.';

grant select on app.tasks_archive, app.task_tags_archive to todo_app, todo_readonly;

-- A deleted task that was just copied into the archive was archived, not hard-deleted: no event.
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
    where
      exists (select from app.users as u where u.id = o.user_id)
      and not exists (select from app.tasks_archive as a where a.id = o.id);
  end if;
  return null;
end;
$$;

comment on function app_private.tg_tasks__record_events() is
'Trigger: appends created, status_changed, deleted, restored and hard_deleted events to task_events.';

comment on trigger _900_record_delete_events on app.tasks is
'Records hard deletes, except the cascade from deleting the user and the move into the archive.';

create function app_private.archive_completed_tasks(completed_before timestamptz, batch_size integer)
returns integer
language plpgsql
volatile
set search_path = ''
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
      for update
    ) as c
    group by c.user_id
  loop
    perform pg_catalog.set_config('app.user_id', batch.user_id::text, true);
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

comment on function app_private.archive_completed_tasks(timestamptz, integer) is
'Maintenance: moves up to batch_size completed tasks (completed before the cutoff) and their links into the archive.';

create function app_private.purge_deleted_tasks(deleted_before timestamptz, batch_size integer)
returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
  batch record;
  purged integer := 0;
begin
  for batch in
    select c.user_id, array_agg(c.id) as ids
    from (
      select t.user_id, t.id
      from app.tasks as t
      where t.deleted_at < deleted_before
      order by t.deleted_at, t.id
      limit batch_size
      for update
    ) as c
    group by c.user_id
  loop
    perform pg_catalog.set_config('app.user_id', batch.user_id::text, true);
    delete from app.tasks as t where t.user_id = batch.user_id and t.id = any(batch.ids);
    purged := purged + pg_catalog.cardinality(batch.ids);
  end loop;
  perform pg_catalog.set_config('app.user_id', '', true);
  return purged;
end;
$$;

comment on function app_private.purge_deleted_tasks(timestamptz, integer) is
'Maintenance: hard-deletes up to batch_size tasks that have been in the bin since before the cutoff.';
