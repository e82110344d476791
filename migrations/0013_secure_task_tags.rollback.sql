-- Remove row-level security, policies, grants and the identity default from task_tags.
-- squawk-ignore-file ban-drop-default
-- (A rollback exists to undo what its migration did.)
set local lock_timeout = '5s';
set local statement_timeout = '30s';

revoke all on app.task_tags from todo_app, todo_readonly;

drop policy task_tags_delete_own on app.task_tags;

drop policy task_tags_insert_own on app.task_tags;

drop policy task_tags_select_own on app.task_tags;

alter table app.task_tags no force row level security;

alter table app.task_tags disable row level security;

alter table app.task_tags alter column user_id drop default;
