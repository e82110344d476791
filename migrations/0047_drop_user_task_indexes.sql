-- Drop the per-user task indexes the named queries no longer read, without blocking writes.
-- depends: 0046_share_archived_tasks
-- transactional: false
/*
  Since sharing, every list reads one project's range of the per-project
  indexes of 0039, for each of the identity's projects (queries/): nothing
  reads a task list by user any more, and every write paid for these five.
  tasks_user_id_id_key stays: it serves the foreign key to users (a deleted
  creator's tasks are updated to user_id NULL) and the retention batches.
*/
set lock_timeout = '5s';
set statement_timeout = '1h';

drop index concurrently if exists app.tasks_user_id_due_at_open_idx;

drop index concurrently if exists app.tasks_user_id_undated_open_idx;

drop index concurrently if exists app.tasks_user_id_status_created_at_live_idx;

drop index concurrently if exists app.tasks_user_id_status_live_idx;

drop index concurrently if exists app.tasks_user_id_deleted_at_bin_idx;
