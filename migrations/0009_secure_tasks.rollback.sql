-- Remove row-level security, policies, grants and the identity default from tasks.
-- squawk-ignore-file ban-drop-default
-- (A rollback exists to undo what its migration did.)
set local lock_timeout = '5s';
set local statement_timeout = '30s';

revoke all on app.tasks from todo_app, todo_readonly;

drop policy tasks_delete_own on app.tasks;

drop policy tasks_update_own on app.tasks;

drop policy tasks_insert_own on app.tasks;

drop policy tasks_select_own on app.tasks;

alter table app.tasks no force row level security;

alter table app.tasks disable row level security;

alter table app.tasks alter column user_id drop default;
