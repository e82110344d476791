-- Build the per-user task indexes again, without blocking writes.
set lock_timeout = '5s';
set statement_timeout = '1h';

drop index concurrently if exists app.tasks_user_id_deleted_at_bin_idx;

-- squawk-ignore prefer-robust-stmts
create index concurrently tasks_user_id_deleted_at_bin_idx on app.tasks (user_id, deleted_at desc, id desc)
where deleted_at is not null;

comment on index app.tasks_user_id_deleted_at_bin_idx is 'Serves the deleted-tasks (bin) query.';

drop index concurrently if exists app.tasks_user_id_status_live_idx;

-- squawk-ignore prefer-robust-stmts
create index concurrently tasks_user_id_status_live_idx on app.tasks (user_id, status)
where deleted_at is null;

comment on index app.tasks_user_id_status_live_idx is 'Serves the dashboard''s counts per status.';

drop index concurrently if exists app.tasks_user_id_status_created_at_live_idx;

-- squawk-ignore prefer-robust-stmts
create index concurrently tasks_user_id_status_created_at_live_idx
on app.tasks (user_id, status, created_at desc, id desc)
where deleted_at is null;

comment on index app.tasks_user_id_status_created_at_live_idx is
'Serves the tasks-by-status query (newest first) and the counts per status.';

drop index concurrently if exists app.tasks_user_id_undated_open_idx;

-- squawk-ignore prefer-robust-stmts
create index concurrently tasks_user_id_undated_open_idx on app.tasks (user_id, id)
where deleted_at is null and status <> 'completed' and due_at is null;

comment on index app.tasks_user_id_undated_open_idx is 'Serves the undated tail of the open-tasks-by-due-date query.';

drop index concurrently if exists app.tasks_user_id_due_at_open_idx;

-- squawk-ignore prefer-robust-stmts
create index concurrently tasks_user_id_due_at_open_idx on app.tasks (user_id, due_at, id)
where deleted_at is null and status <> 'completed';

comment on index app.tasks_user_id_due_at_open_idx is 'Serves the open-tasks-by-due-date and overdue queries.';
