-- Drop the task_tags link table.
-- squawk-ignore-file ban-drop-table
-- (A rollback exists to drop what its migration created.)
set local lock_timeout = '5s';
set local statement_timeout = '30s';

drop table app.task_tags;
