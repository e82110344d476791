-- Drop the one-owner check.
-- squawk-ignore-file ban-drop-function
-- (A rollback exists to drop what its migration created.)
set local lock_timeout = '5s';
set local statement_timeout = '30s';

drop trigger _900_check_one_owner on app.projects;

drop trigger _900_check_one_owner on app.project_members;

-- The function belongs to todo_auth: only a member (or a superuser) may drop it.
grant todo_auth to current_user;

drop function app_private.tg_projects__check_one_owner();

revoke todo_auth from current_user;
