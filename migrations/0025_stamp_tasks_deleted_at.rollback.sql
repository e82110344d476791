-- Stop stamping tasks.deleted_at.
-- squawk-ignore-file ban-drop-function
-- (A rollback exists to drop what its migration created.)
set local lock_timeout = '5s';
set local statement_timeout = '30s';

drop trigger _300_stamp_deleted_at on app.tasks;

drop function app_private.tg_tasks__stamp_deleted_at();
