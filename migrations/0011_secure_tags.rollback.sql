-- Remove row-level security, policies, grants and the identity default from tags.
-- squawk-ignore-file ban-drop-default
-- (A rollback exists to undo what its migration did.)
set local lock_timeout = '5s';
set local statement_timeout = '30s';

revoke all on app.tags from todo_app, todo_readonly;

drop policy tags_delete_own on app.tags;

drop policy tags_update_own on app.tags;

drop policy tags_insert_own on app.tags;

drop policy tags_select_own on app.tags;

alter table app.tags no force row level security;

alter table app.tags disable row level security;

alter table app.tags alter column user_id drop default;
