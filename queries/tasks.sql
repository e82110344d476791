-- The app's task queries. Every query runs as todo_app with the identity set:
-- row-level security keeps each user to the projects they are a member of, so
-- none takes a user id to be safe.
-- Keyset pagination: a page is asked for with the sort key of the previous
-- page's last row (never OFFSET); the first page passes the FIRST_PAGE cursor
-- documented on each query.
-- A list across projects is driven by the identity's memberships
-- (project_members_user_id_idx): for each project, the sort keys of its next
-- page_size rows after the cursor, read from that project's range of the index
-- and stopping there (index-only); of those, at most memberships x page_size
-- keys, the first page_size (a top-N sort); then those rows by tasks_pkey. The
-- explicit `m.user_id = app.current_user_id()` only chooses the driving rows:
-- the policies still apply to every table read.

-- name: open_tasks_by_due_date(after_due_at, after_id, page_size)
-- Open (not completed, not deleted) tasks of every project the user is in, by due date, undated last,
-- id as tie-breaker.
-- Cursor: the last row's (due_at, id); an undated last row passes due_at null.
-- First page: after_due_at = '-infinity', after_id = '00000000-0000-0000-0000-000000000000'.
-- Per project: the dated keys after the cursor, then (when those run short) the undated ones,
-- each range stopping at page_size.
-- Served by project_members_user_id_idx, tasks_project_id_due_at_open_idx,
-- tasks_project_id_undated_open_idx and tasks_pkey.
(
  select
    t.id,
    t.title,
    t.status,
    t.priority,
    t.due_at,
    t.estimated_hours,
    t.created_at,
    t.updated_at,
    t.project_id,
    t.assignee_id,
    t.version
  from (
    select
      k.due_at,
      k.id
    from app.project_members as m
    inner join lateral (
      select
        t.due_at,
        t.id
      from app.tasks as t
      where
        t.project_id = m.project_id
        and t.deleted_at is null
        and t.status <> 'completed'
        and (t.due_at, t.id) > (:after_due_at::timestamptz, :after_id::uuid)
      order by t.due_at, t.id
      limit :page_size::integer
    ) as k on true
    where m.user_id = app.current_user_id()
    order by k.due_at, k.id
    limit :page_size::integer
  ) as page
  inner join app.tasks as t on page.id = t.id
  order by page.due_at, page.id
  limit :page_size::integer
)
union all
(
  select
    t.id,
    t.title,
    t.status,
    t.priority,
    t.due_at,
    t.estimated_hours,
    t.created_at,
    t.updated_at,
    t.project_id,
    t.assignee_id,
    t.version
  from (
    select k.id
    from app.project_members as m
    inner join lateral (
      select t.id
      from app.tasks as t
      where
        t.project_id = m.project_id
        and t.deleted_at is null
        and t.status <> 'completed'
        and t.due_at is null
        and t.id > (
          case
            when :after_due_at::timestamptz is null then :after_id::uuid
            else '00000000-0000-0000-0000-000000000000'::uuid
          end
        )
      order by t.id
      limit :page_size::integer
    ) as k on true
    where m.user_id = app.current_user_id()
    order by k.id
    limit :page_size::integer
  ) as page
  inner join app.tasks as t on page.id = t.id
  order by page.id
  limit :page_size::integer
)
limit :page_size::integer;

-- name: overdue_tasks(after_due_at, after_id, page_size)
-- Open tasks of every project the user is in whose due date has passed, oldest due first.
-- First page: after_due_at = '-infinity', after_id = '00000000-0000-0000-0000-000000000000'.
-- Per project: a range of due_at below now(), after the cursor, stopping at page_size.
-- Served by project_members_user_id_idx, tasks_project_id_due_at_open_idx and tasks_pkey.
select
  t.id,
  t.title,
  t.status,
  t.priority,
  t.due_at,
  t.estimated_hours,
  t.created_at,
  t.updated_at,
  t.project_id,
  t.assignee_id,
  t.version
from (
  select
    k.due_at,
    k.id
  from app.project_members as m
  inner join lateral (
    select
      t.due_at,
      t.id
    from app.tasks as t
    where
      t.project_id = m.project_id
      and t.deleted_at is null
      and t.status <> 'completed'
      and t.due_at < now()
      and (t.due_at, t.id) > (:after_due_at::timestamptz, :after_id::uuid)
    order by t.due_at, t.id
    limit :page_size::integer
  ) as k on true
  where m.user_id = app.current_user_id()
  order by k.due_at, k.id
  limit :page_size::integer
) as page
inner join app.tasks as t on page.id = t.id
order by page.due_at, page.id;

-- name: tasks_by_status(status, after_created_at, after_id, page_size)
-- Tasks in one status, of every project the user is in, newest first, id as tie-breaker.
-- First page: after_created_at = 'infinity', after_id = 'ffffffff-ffff-ffff-ffff-ffffffffffff'.
-- Per project: the status's range before the cursor, stopping at page_size.
-- Served by project_members_user_id_idx, tasks_project_id_status_created_at_live_idx and tasks_pkey.
select
  t.id,
  t.title,
  t.status,
  t.priority,
  t.due_at,
  t.completed_at,
  t.estimated_hours,
  t.created_at,
  t.updated_at,
  t.project_id,
  t.assignee_id,
  t.version
from (
  select
    k.created_at,
    k.id
  from app.project_members as m
  inner join lateral (
    select
      t.created_at,
      t.id
    from app.tasks as t
    where
      t.project_id = m.project_id
      and t.deleted_at is null
      and t.status = :status::text
      and (t.created_at, t.id) < (:after_created_at::timestamptz, :after_id::uuid)
    order by t.created_at desc, t.id desc
    limit :page_size::integer
  ) as k on true
  where m.user_id = app.current_user_id()
  order by k.created_at desc, k.id desc
  limit :page_size::integer
) as page
inner join app.tasks as t on page.id = t.id
order by page.created_at desc, page.id desc;

-- name: deleted_tasks(after_deleted_at, after_id, page_size)
-- The bin: soft-deleted tasks of every project the user is in, most recently deleted first.
-- First page: after_deleted_at = 'infinity', after_id = 'ffffffff-ffff-ffff-ffff-ffffffffffff'.
-- Per project: the bin's range before the cursor, stopping at page_size.
-- Served by project_members_user_id_idx, tasks_project_id_deleted_at_bin_idx and tasks_pkey.
select
  t.id,
  t.title,
  t.status,
  t.priority,
  t.due_at,
  t.deleted_at,
  t.created_at,
  t.updated_at,
  t.project_id,
  t.assignee_id,
  t.version
from (
  select
    k.deleted_at,
    k.id
  from app.project_members as m
  inner join lateral (
    select
      t.deleted_at,
      t.id
    from app.tasks as t
    where
      t.project_id = m.project_id
      and t.deleted_at is not null
      and (t.deleted_at, t.id) < (:after_deleted_at::timestamptz, :after_id::uuid)
    order by t.deleted_at desc, t.id desc
    limit :page_size::integer
  ) as k on true
  where m.user_id = app.current_user_id()
  order by k.deleted_at desc, k.id desc
  limit :page_size::integer
) as page
inner join app.tasks as t on page.id = t.id
order by page.deleted_at desc, page.id desc;

-- name: get_task(task_id)^
-- One task with everything about it, or nothing (also when it is in the bin, or in a project
-- the user is not in). Served by tasks_pkey (one row, then the membership policy).
select
  t.id,
  t.title,
  t.description,
  t.status,
  t.priority,
  t.due_at,
  t.completed_at,
  t.estimated_hours,
  t.created_at,
  t.updated_at,
  t.project_id,
  t.assignee_id,
  t.version
from app.tasks as t
where t.id = :task_id::uuid and t.deleted_at is null;

-- name: create_task(title, description, priority, due_at, estimated_hours)<!
-- Creates a task in the current user's inbox (user_id defaults to the identity, project_id to its inbox).
insert into app.tasks (title, description, priority, due_at, estimated_hours)
values (
  :title::text,
  :description::text,
  coalesce(:priority::text, 'medium'),
  :due_at::timestamptz,
  :estimated_hours::numeric
)
returning id, title, status, priority, due_at, estimated_hours, created_at, updated_at, version;

-- name: create_task_in_project(title, description, priority, due_at, estimated_hours, project_id, assignee_id)<!
-- Creates a task in a project the user owns or edits (project_id null: the inbox), optionally
-- assigned to one of its members. A project the user may not write to (viewer, not a member, or
-- none) fails with insufficient_privilege (42501); an assignee who is not a member with
-- foreign_key_violation (23503, tasks_assignee_membership_fkey).
insert into app.tasks (project_id, title, description, priority, due_at, estimated_hours, assignee_id)
values (
  :project_id::uuid,
  :title::text,
  :description::text,
  coalesce(:priority::text, 'medium'),
  :due_at::timestamptz,
  :estimated_hours::numeric,
  :assignee_id::uuid
)
returning
  id, title, status, priority, due_at, estimated_hours, created_at, updated_at, project_id, assignee_id, version;

-- name: update_task(task_id, version, title, description, priority, due_at, estimated_hours)<!
-- Replaces a task's editable fields; returns nothing when there is no such (live) task the user
-- may edit, or when it is no longer at the version the client read (another device or editor
-- saved first). Version check: task_version. Served by tasks_pkey.
update app.tasks
set
  title = :title::text,
  description = :description::text,
  priority = :priority::text,
  due_at = :due_at::timestamptz,
  estimated_hours = :estimated_hours::numeric
where id = :task_id::uuid and version = :version::integer and deleted_at is null
returning id, title, description, status, priority, due_at, estimated_hours, updated_at, version;

-- name: assign_task(task_id, version, assignee_id)<!
-- Assigns a live task to a member of its project (assignee_id null: unassigns); returns nothing
-- when there is no such task the user may edit, or when it is no longer at the version the client
-- read. An assignee who is not a member fails with foreign_key_violation (23503,
-- tasks_assignee_membership_fkey). Version check: task_version. Served by tasks_pkey.
update app.tasks
set assignee_id = :assignee_id::uuid
where id = :task_id::uuid and version = :version::integer and deleted_at is null
returning id, project_id, assignee_id, updated_at, version;

-- name: set_task_status(task_id, version, status)<!
-- Moves a task to a status; completed_at follows (trigger), history records it. Returns nothing
-- when there is no such live task the user may edit, or when it is no longer at the version the
-- client read (one device completing what another reopened). Version check: task_version.
-- Served by tasks_pkey.
update app.tasks
set status = :status::text
where id = :task_id::uuid and version = :version::integer and deleted_at is null
returning id, status, completed_at, updated_at, version;

-- name: soft_delete_task(task_id)<!
-- Puts a task in the bin. Takes no version: moving to the bin loses nothing (an edit saved a moment
-- before is in the row, and restore_task brings it back), and a second delete already changes
-- nothing (deleted_at is null). The version still moves on, so a device holding the task finds it
-- gone. Served by tasks_pkey.
update app.tasks
set deleted_at = now()
where id = :task_id::uuid and deleted_at is null
returning id, deleted_at, version;

-- name: restore_task(task_id)<!
-- Takes a task out of the bin. Takes no version, for the reason soft_delete_task gives: a second
-- restore changes nothing (deleted_at is not null). Served by tasks_pkey.
update app.tasks
set deleted_at = null
where id = :task_id::uuid and deleted_at is not null
returning id, deleted_at, version;

-- name: task_version(task_id)$
-- The version of a task the user can see (live or in the bin), or nothing: how an update that
-- changed nothing tells a stale version from a missing task. Served by tasks_pkey.
select t.version
from app.tasks as t
where t.id = :task_id::uuid;
