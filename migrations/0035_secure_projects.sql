-- Force row-level security on projects, memberships and invitations: members see, owners manage.
-- depends: 0034_create_membership_functions
/*
  The identity's memberships are read once per statement, never per row:
  each policy compares a column with `in (select ...)`, which PostgreSQL
  evaluates once into a hash table (a hashed SubPlan). Policies on projects
  read project_members directly; policies on project_members (and
  invitations) cannot, and call the definer functions of 0034 instead.

  project_members: a member sees the rows of their projects (who else is
  in them); the owner changes roles and removes members; a member leaves by
  deleting their own row; nobody deletes or changes an owner row, or
  makes one (ownership moves only through app.transfer_ownership()).
  Memberships are added only by the definer code (owner rows, accepting an
  invitation): todo_app has no INSERT on the table.

  projects: members see their projects; anyone creates one (and is its
  owner: owner_id defaults to the identity and must be it); the owner
  renames, archives and deletes it, never an inbox.

  project_invitations: the owner sees and withdraws the project's
  invitations; the invitee sees the ones for their email. Invitations are
  made and accepted through the definer functions only.
*/
set local lock_timeout = '5s';
set local statement_timeout = '30s';

alter table app.projects alter column owner_id set default app.current_user_id();

alter table app.projects enable row level security;

alter table app.projects force row level security;

create policy projects_select_member on app.projects for select
using (
  owner_id = (select app.current_user_id())
  or id in (
    select m.project_id from app.project_members as m
    where m.user_id = (select app.current_user_id())
  )
);

comment on policy projects_select_member on app.projects is
'A member sees the project (the owner also in the statement that creates it, before its owner row exists).';

create policy projects_insert_owner on app.projects for insert
with check (owner_id = (select app.current_user_id()) and not is_inbox);

comment on policy projects_insert_owner on app.projects is
'A user creates projects they own; inboxes come only with the account.';

create policy projects_update_owner on app.projects for update
using (owner_id = (select app.current_user_id()))
with check (owner_id = (select app.current_user_id()));

comment on policy projects_update_owner on app.projects is 'The owner renames and archives the project.';

create policy projects_delete_owner on app.projects for delete
using (owner_id = (select app.current_user_id()) and not is_inbox);

comment on policy projects_delete_owner on app.projects is
'The owner deletes the project, with its tasks and history; an inbox goes only with the account.';

grant select on app.projects to todo_app, todo_readonly;

grant insert (name, archived_at), update (name, archived_at), delete on app.projects to todo_app;

alter table app.project_members enable row level security;

alter table app.project_members force row level security;

create policy project_members_select_member on app.project_members for select
using (
  user_id = (select app.current_user_id())
  or project_id in (select app_private.current_user_project_ids())
);

comment on policy project_members_select_member on app.project_members is
'A member sees who is in their projects.';

create policy project_members_update_owner on app.project_members for update
using (role <> 'owner' and project_id in (select app_private.current_user_owned_project_ids()))
with check (role <> 'owner' and project_id in (select app_private.current_user_owned_project_ids()));

comment on policy project_members_update_owner on app.project_members is
'The owner makes a member an editor or a viewer; ownership moves only through app.transfer_ownership().';

create policy project_members_delete_owner_or_self on app.project_members for delete
using (
  role <> 'owner'
  and (
    user_id = (select app.current_user_id())
    or project_id in (select app_private.current_user_owned_project_ids())
  )
);

comment on policy project_members_delete_owner_or_self on app.project_members is
'The owner removes a member; a member leaves. The owner row stays (transfer ownership first).';

grant select on app.project_members to todo_app, todo_readonly;

grant update (role), delete on app.project_members to todo_app;

alter table app.project_invitations alter column invited_by set default app.current_user_id();

alter table app.project_invitations enable row level security;

alter table app.project_invitations force row level security;

create policy project_invitations_select_owner_or_invitee on app.project_invitations for select
using (
  project_id in (select app_private.current_user_owned_project_ids())
  or email = (
    select u.email from app.users as u
    where u.id = (select app.current_user_id())
  )
);

comment on policy project_invitations_select_owner_or_invitee on app.project_invitations is
'The owner sees the project''s invitations; a user sees the ones addressed to their email.';

create policy project_invitations_delete_owner on app.project_invitations for delete
using (project_id in (select app_private.current_user_owned_project_ids()));

comment on policy project_invitations_delete_owner on app.project_invitations is
'The owner withdraws an invitation.';

grant select, delete on app.project_invitations to todo_app;

grant select on app.project_invitations to todo_readonly;
