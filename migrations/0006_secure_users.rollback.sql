-- Remove row-level security, policies and grants from users.
set local lock_timeout = '5s';
set local statement_timeout = '30s';

revoke all on app.users from todo_app, todo_readonly;

drop policy users_delete_own on app.users;

drop policy users_update_own on app.users;

drop policy users_select_own on app.users;

alter table app.users no force row level security;

alter table app.users disable row level security;
