-- The dashboard's figures for the current user: every project they are a member of
-- (row-level security isolates; the memberships only drive the counting, project by project).

-- name: count_tasks_by_status()
-- Live tasks per status, every status listed (zero included), over every project the user is in.
-- Per project (project_members_user_id_idx), an index-only count of its live range, already in
-- status order (no sort); the projects' counts are summed.
-- Served by project_members_user_id_idx and tasks_project_id_status_created_at_live_idx.
with counted as (
  select
    c.status,
    sum(c.task_count)::bigint as task_count
  from app.project_members as m
  inner join lateral (
    select
      t.status,
      count(*) as task_count
    from app.tasks as t
    where t.project_id = m.project_id and t.deleted_at is null
    group by t.status
  ) as c on true
  where m.user_id = app.current_user_id()
  group by c.status
)

select
  s.status,
  coalesce(c.task_count, 0) as task_count
from (values (1, 'pending'), (2, 'in_progress'), (3, 'completed')) as s (position, status)
left join counted as c on s.status = c.status
order by s.position;

-- name: count_overdue_tasks()$
-- How many open tasks are past their due date, over every project the user is in.
-- Per project, an index-only count of the range below now(); summed.
-- Served by project_members_user_id_idx and tasks_project_id_due_at_open_idx.
select coalesce(sum(c.overdue)::bigint, 0) as overdue
from app.project_members as m
inner join lateral (
  select count(*) as overdue
  from app.tasks as t
  where
    t.project_id = m.project_id
    and t.deleted_at is null
    and t.status <> 'completed'
    and t.due_at < now()
) as c on true
where m.user_id = app.current_user_id();
