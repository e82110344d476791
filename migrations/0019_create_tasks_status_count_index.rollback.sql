-- Drop the counts-per-status index without blocking writes.
set lock_timeout = '5s';
set statement_timeout = '1h';

drop index concurrently if exists app.tasks_user_id_status_live_idx;
