-- Remove row-level security, policies and grants from task_events.
set local lock_timeout = '5s';
set local statement_timeout = '30s';

revoke all on app.task_events from todo_app, todo_readonly;

drop policy task_events_insert_own on app.task_events;

drop policy task_events_select_own on app.task_events;

alter table app.task_events no force row level security;

alter table app.task_events disable row level security;
