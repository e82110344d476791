-- Remove row-level security from projects, memberships and invitations.
-- squawk-ignore-file ban-drop-default
-- (A rollback exists to undo what its migration did.)
set local lock_timeout = '5s';
set local statement_timeout = '30s';

revoke all on app.project_invitations from todo_app, todo_readonly;
drop policy project_invitations_delete_owner on app.project_invitations;
drop policy project_invitations_select_owner_or_invitee on app.project_invitations;
alter table app.project_invitations no force row level security;
alter table app.project_invitations disable row level security;
alter table app.project_invitations alter column invited_by drop default;

revoke all on app.project_members from todo_app, todo_readonly;
drop policy project_members_delete_owner_or_self on app.project_members;
drop policy project_members_update_owner on app.project_members;
drop policy project_members_select_member on app.project_members;
alter table app.project_members no force row level security;
alter table app.project_members disable row level security;

revoke all on app.projects from todo_app, todo_readonly;
drop policy projects_delete_owner on app.projects;
drop policy projects_update_owner on app.projects;
drop policy projects_insert_owner on app.projects;
drop policy projects_select_member on app.projects;
alter table app.projects no force row level security;
alter table app.projects disable row level security;
alter table app.projects alter column owner_id drop default;
