-- Drop the sign-up and sign-in functions and todo_auth's policies and grants.
-- squawk-ignore-file ban-drop-function
-- (A rollback exists to drop what its migration created.)
set local lock_timeout = '5s';
set local statement_timeout = '30s';

-- The functions belong to todo_auth: only a member (or a superuser) may drop them.
grant todo_auth to current_user;

drop function app.record_login(uuid);

drop function app.user_for_login(text);

drop function app.sign_up(text, text, text);

revoke todo_auth from current_user;

revoke all on app.users from todo_auth;

drop policy users_update_auth on app.users;

drop policy users_insert_auth on app.users;

drop policy users_select_auth on app.users;
