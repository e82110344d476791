-- Drop the task history table.
-- squawk-ignore-file ban-drop-table, ban-drop-function, ban-drop-domain
-- (A rollback exists to drop what its migration created.)
set local lock_timeout = '5s';
set local statement_timeout = '30s';

drop table app.task_events;

drop function app_private.tg_task_events__append_only();

drop domain app.task_event_kind;
