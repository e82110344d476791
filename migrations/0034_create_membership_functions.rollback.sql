-- Drop the definer code of sharing and todo_auth's policies and grants on the sharing tables.
-- squawk-ignore-file ban-drop-function, ban-drop-function, ban-drop-view
-- (A rollback exists to drop what its migration created.)
set local lock_timeout = '5s';
set local statement_timeout = '30s';

-- These belong to todo_auth: only a member (or a superuser) may drop them.
grant todo_auth to current_user;

drop view app.project_member_profiles;
drop function app.transfer_ownership(uuid, uuid);
drop function app.accept_invitation(uuid);
drop function app.invite_to_project(uuid, text, text);
drop trigger _900_create_inbox on app.users;
drop function app_private.tg_users__create_inbox();
drop trigger _900_add_owner on app.projects;
drop function app_private.tg_projects__add_owner();
drop function app_private.current_user_owned_project_ids();
drop function app_private.current_user_project_ids();

revoke todo_auth from current_user;

revoke all on app.project_invitations from todo_auth;
revoke all on app.project_members from todo_auth;
revoke all on app.projects from todo_auth;
revoke select (name) on app.users from todo_auth;

drop policy project_invitations_delete_auth on app.project_invitations;
drop policy project_invitations_update_auth on app.project_invitations;
drop policy project_invitations_insert_auth on app.project_invitations;
drop policy project_invitations_select_auth on app.project_invitations;
drop policy project_members_update_auth on app.project_members;
drop policy project_members_insert_auth on app.project_members;
drop policy project_members_select_auth on app.project_members;
drop policy projects_update_auth on app.projects;
drop policy projects_insert_auth on app.projects;
drop policy projects_select_auth on app.projects;
