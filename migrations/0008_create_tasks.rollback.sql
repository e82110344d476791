-- Drop the tasks table, its indexes and its completion trigger.
-- squawk-ignore-file ban-drop-table, ban-drop-function
-- (A rollback exists to drop what its migration created.)
set local lock_timeout = '5s';
set local statement_timeout = '30s';

drop table app.tasks;

drop function app_private.tg_tasks__completed_at();
