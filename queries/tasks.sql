-- The app's task queries. Every query runs as todo_app with the identity set:
-- row-level security keeps each user to their own rows, so none takes a user id.
-- Keyset pagination: a page is asked for with the sort key of the previous
-- page's last row (never OFFSET); the first page passes the FIRST_PAGE cursor
-- documented on each query.

-- name: open_tasks_by_due_date(after_due_at, after_id, page_size)
-- Open (not completed, not deleted) tasks by due date, undated last, id as tie-breaker.
-- Cursor: the last row's (due_at, id); an undated last row passes due_at null.
-- First page: after_due_at = '-infinity', after_id = '00000000-0000-0000-0000-000000000000'.
-- Served by tasks_user_id_due_at_open_idx (dated rows after the cursor, in order)
-- and tasks_user_id_undated_open_idx (then the undated ones), each stopping at page_size.
(
  select
    t.id,
    t.title,
    t.status,
    t.priority,
    t.due_at,
    t.estimated_hours,
    t.created_at,
    t.updated_at
  from app.tasks as t
  where
    t.deleted_at is null
    and t.status <> 'completed'
    and (t.due_at, t.id) > (:after_due_at::timestamptz, :after_id::uuid)
  order by t.due_at, t.id
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
    t.updated_at
  from app.tasks as t
  where
    t.deleted_at is null
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
)
limit :page_size::integer;

-- name: overdue_tasks(after_due_at, after_id, page_size)
-- Open tasks whose due date has passed, oldest due first.
-- First page: after_due_at = '-infinity', after_id = '00000000-0000-0000-0000-000000000000'.
-- Served by tasks_user_id_due_at_open_idx (a range on due_at below now()).
select
  t.id,
  t.title,
  t.status,
  t.priority,
  t.due_at,
  t.estimated_hours,
  t.created_at,
  t.updated_at
from app.tasks as t
where
  t.deleted_at is null
  and t.status <> 'completed'
  and t.due_at < now()
  and (t.due_at, t.id) > (:after_due_at::timestamptz, :after_id::uuid)
order by t.due_at, t.id
limit :page_size::integer;

-- name: tasks_by_status(status, after_created_at, after_id, page_size)
-- Tasks in one status, newest first, id as tie-breaker.
-- First page: after_created_at = 'infinity', after_id = 'ffffffff-ffff-ffff-ffff-ffffffffffff'.
-- Served by tasks_user_id_status_created_at_live_idx, read in order.
select
  t.id,
  t.title,
  t.status,
  t.priority,
  t.due_at,
  t.completed_at,
  t.estimated_hours,
  t.created_at,
  t.updated_at
from app.tasks as t
where
  t.deleted_at is null
  and t.status = :status::text
  and (t.created_at, t.id) < (:after_created_at::timestamptz, :after_id::uuid)
order by t.created_at desc, t.id desc
limit :page_size::integer;

-- name: deleted_tasks(after_deleted_at, after_id, page_size)
-- The bin: soft-deleted tasks, most recently deleted first.
-- First page: after_deleted_at = 'infinity', after_id = 'ffffffff-ffff-ffff-ffff-ffffffffffff'.
-- Served by tasks_user_id_deleted_at_bin_idx.
select
  t.id,
  t.title,
  t.status,
  t.priority,
  t.due_at,
  t.deleted_at,
  t.created_at,
  t.updated_at
from app.tasks as t
where
  t.deleted_at is not null
  and (t.deleted_at, t.id) < (:after_deleted_at::timestamptz, :after_id::uuid)
order by t.deleted_at desc, t.id desc
limit :page_size::integer;

-- name: get_task(task_id)^
-- One task with everything about it, or nothing (also when it is in the bin).
-- Served by tasks_user_id_id_key (the identity and the id: two equalities, one row).
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
  t.updated_at
from app.tasks as t
where t.id = :task_id::uuid and t.deleted_at is null;

-- name: create_task(title, description, priority, due_at, estimated_hours)<!
-- Creates a task for the current user (user_id defaults to the identity).
insert into app.tasks (title, description, priority, due_at, estimated_hours)
values (
  :title::text,
  :description::text,
  coalesce(:priority::text, 'medium'),
  :due_at::timestamptz,
  :estimated_hours::numeric
)
returning id, title, status, priority, due_at, estimated_hours, created_at, updated_at;

-- name: update_task(task_id, title, description, priority, due_at, estimated_hours)<!
-- Replaces a task's editable fields; returns nothing when there is no such (live) task.
-- Served by tasks_pkey.
update app.tasks
set
  title = :title::text,
  description = :description::text,
  priority = :priority::text,
  due_at = :due_at::timestamptz,
  estimated_hours = :estimated_hours::numeric
where id = :task_id::uuid and deleted_at is null
returning id, title, description, status, priority, due_at, estimated_hours, updated_at;

-- name: set_task_status(task_id, status)<!
-- Moves a task to a status; completed_at follows (trigger), history records it.
-- Served by tasks_pkey.
update app.tasks
set status = :status::text
where id = :task_id::uuid and deleted_at is null
returning id, status, completed_at, updated_at;

-- name: soft_delete_task(task_id)<!
-- Puts a task in the bin. Served by tasks_pkey.
update app.tasks
set deleted_at = now()
where id = :task_id::uuid and deleted_at is null
returning id, deleted_at;

-- name: restore_task(task_id)<!
-- Takes a task out of the bin. Served by tasks_pkey.
update app.tasks
set deleted_at = null
where id = :task_id::uuid and deleted_at is not null
returning id, deleted_at;
