-- Drop the task status and task priority types.
-- squawk-ignore-file ban-drop-domain
-- (A rollback exists to drop what its migration created.)
set local lock_timeout = '5s';
set local statement_timeout = '30s';

drop domain app.task_priority;

drop domain app.task_status;
