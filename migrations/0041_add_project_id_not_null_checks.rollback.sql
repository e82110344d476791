-- Drop the NOT VALID project checks.
-- squawk-ignore-file ban-drop-constraint
-- (A rollback exists to undo what its migration did.)
set local lock_timeout = '5s';
set local statement_timeout = '30s';

alter table app.task_events drop constraint task_events_project_id_not_null_check;

alter table app.tasks drop constraint tasks_project_id_not_null_check;
