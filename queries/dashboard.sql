-- The dashboard's figures for the current user (row-level security isolates).

-- name: count_tasks_by_status()
-- Live tasks per status, every status listed (zero included).
-- Served by tasks_user_id_status_live_idx: one index-only scan,
-- already in status order, so the counting needs no sort and no heap.
with counted as (
  select
    t.status,
    count(*) as task_count
  from app.tasks as t
  where t.deleted_at is null
  group by t.status
)

select
  s.status,
  coalesce(c.task_count, 0) as task_count
from (values (1, 'pending'), (2, 'in_progress'), (3, 'completed')) as s (position, status)
left join counted as c on s.status = c.status
order by s.position;

-- name: count_overdue_tasks()$
-- How many open tasks are past their due date.
-- Served by tasks_user_id_due_at_open_idx (a range below now()).
select count(*) as overdue
from app.tasks as t
where t.deleted_at is null and t.status <> 'completed' and t.due_at < now();
