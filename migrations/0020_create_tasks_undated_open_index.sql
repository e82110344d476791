-- Create the index for the undated tail of the open-tasks list, without blocking writes.
-- depends: 0019_create_tasks_status_count_index
-- transactional: false
/*
  open_tasks_by_due_date lists dated tasks first, then undated ones by id.
  Under row-level security the planner served that second part from
  tasks_user_id_id_key, reading every task of the user in id order and
  filtering (82 buffers for a typical user at 200,000 tasks); with this
  partial index it reads only the undated open tasks, in order. Same pattern
  as 0019: concurrently, a leftover of a failed build cleared first.
*/
set lock_timeout = '5s';
-- A concurrent build on a big table may rightly take long; it does not block writes.
set statement_timeout = '1h';

drop index concurrently if exists app.tasks_user_id_undated_open_idx;

-- The statement above clears a leftover of a failed build, so this one can be rerun.
-- squawk-ignore prefer-robust-stmts
create index concurrently tasks_user_id_undated_open_idx on app.tasks (user_id, id)
where deleted_at is null and status <> 'completed' and due_at is null;

comment on index app.tasks_user_id_undated_open_idx is
'Serves the undated tail of the open-tasks-by-due-date query.';
