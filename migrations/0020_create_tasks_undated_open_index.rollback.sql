-- Drop the undated-open-tasks index without blocking writes.
set lock_timeout = '5s';
set statement_timeout = '1h';

drop index concurrently if exists app.tasks_user_id_undated_open_idx;
