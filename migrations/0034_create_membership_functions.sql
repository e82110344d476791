-- Create the definer code of sharing: owner rows, inboxes, invitations, ownership transfer, the membership lists.
-- depends: 0033_create_project_invitations 0024_pin_function_search_paths
/*
  Everything here reads or writes memberships that the caller's own policies
  do not show, so it runs with the rights of todo_auth, the narrow role that
  already owns the sign-in functions (0017): NOLOGIN, no BYPASSRLS, and the
  only role the `_auth` policies below apply to. Each function pins
  `search_path = pg_catalog, pg_temp` and qualifies every name (0024);
  citext's equality is named as `operator(public.=)`.

  - app_private.current_user_project_ids() / current_user_owned_project_ids():
    the projects the identity is a member / the owner of. The policies on
    project_members and project_invitations call them, once per statement
    (`in (select ...)`): a policy on project_members cannot look at
    project_members itself (PostgreSQL reports infinite recursion, 42P17),
    and a definer function is planned apart from the query that calls it.
  - app_private.tg_projects__add_owner: the creator's owner row, added in
    the statement that creates the project.
  - app_private.tg_users__create_inbox: every new user gets an inbox, on
    every path (app.sign_up, the owner's maintenance, restore).
  - app.invite_to_project(project_id, email, role) -> the invitation's id.
    It never looks at app.users: an address with an account and one without
    take the same path and return the same kind of result. Owner only
    (42501 otherwise, also for a project that does not exist or is not
    yours); an inbox is refused (23514, project_invitations_not_inbox_check).
  - app.accept_invitation(id): only the user whose email it names, before
    it expires; adds the membership and uses the invitation up. Anything
    else is 42501, the same for an id that does not exist.
  - app.transfer_ownership(project_id, new_owner): owner only, to a member
    (23503, projects_owner_is_member_check); the old owner becomes an
    editor. An inbox cannot change hands (23514, projects_inbox_id_check).
  - app.project_member_profiles: the members of the identity's projects
    with their name and email, never the password hash or login times
    (todo_app has no column grant on users for anyone else's row).

  todo_auth gets CREATE on the two schemas and the owner gets todo_auth's
  rights only for this transaction (as in 0017 and 0024): PostgreSQL checks
  them only while ownership changes hands.
*/
set local lock_timeout = '5s';
set local statement_timeout = '30s';

create policy projects_select_auth on app.projects for select to todo_auth
using (true);

comment on policy projects_select_auth on app.projects is
'The sharing functions (owned by todo_auth) look projects up by id for anyone.';

create policy projects_insert_auth on app.projects for insert to todo_auth
with check (true);

comment on policy projects_insert_auth on app.projects is 'Inboxes are created with the account.';

create policy projects_update_auth on app.projects for update to todo_auth
using (true)
with check (true);

comment on policy projects_update_auth on app.projects is 'app.transfer_ownership() changes owner_id.';

create policy project_members_select_auth on app.project_members for select to todo_auth
using (true);

comment on policy project_members_select_auth on app.project_members is
'The sharing functions read memberships the caller cannot see.';

create policy project_members_insert_auth on app.project_members for insert to todo_auth
with check (true);

comment on policy project_members_insert_auth on app.project_members is
'Owner rows come with the project; other members join by accepting an invitation.';

create policy project_members_update_auth on app.project_members for update to todo_auth
using (true)
with check (true);

comment on policy project_members_update_auth on app.project_members is 'app.transfer_ownership() swaps roles.';

create policy project_invitations_select_auth on app.project_invitations for select to todo_auth
using (true);

comment on policy project_invitations_select_auth on app.project_invitations is
'app.invite_to_project() renews and app.accept_invitation() uses up invitations.';

create policy project_invitations_insert_auth on app.project_invitations for insert to todo_auth
with check (true);

comment on policy project_invitations_insert_auth on app.project_invitations is 'app.invite_to_project().';

create policy project_invitations_update_auth on app.project_invitations for update to todo_auth
using (true)
with check (true);

comment on policy project_invitations_update_auth on app.project_invitations is
'app.invite_to_project() renews an invitation to the same address.';

create policy project_invitations_delete_auth on app.project_invitations for delete to todo_auth
using (true);

comment on policy project_invitations_delete_auth on app.project_invitations is
'app.accept_invitation() uses the invitation up.';

grant select (name) on app.users to todo_auth;

grant select (id, owner_id, is_inbox), insert (id, owner_id, name, is_inbox), update (owner_id)
on app.projects to todo_auth;

grant select (project_id, user_id, role, created_at), insert (project_id, user_id, role), update (role)
on app.project_members to todo_auth;

grant select, insert (project_id, email, role, invited_by), update (role, invited_by, created_at, expires_at), delete
on app.project_invitations to todo_auth;

create function app_private.current_user_project_ids() returns setof uuid
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select m.project_id from app.project_members as m where m.user_id = app.current_user_id();
$$;

comment on function app_private.current_user_project_ids() is
'The projects the identity is a member of (any role); for policies that cannot read project_members themselves.';

create function app_private.current_user_owned_project_ids() returns setof uuid
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select m.project_id from app.project_members as m
  where m.user_id = app.current_user_id() and m.role operator(pg_catalog.=) 'owner';
$$;

comment on function app_private.current_user_owned_project_ids() is
'The projects the identity owns; for policies that cannot read project_members themselves.';

create function app_private.tg_projects__add_owner() returns trigger
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  insert into app.project_members (project_id, user_id, role)
  select n.id, n.owner_id, 'owner'
  from new_rows as n;
  return null;
end;
$$;

comment on function app_private.tg_projects__add_owner() is
'Trigger: the creator of a project is its owner member from the creating statement on.';

create trigger _900_add_owner
after insert on app.projects
referencing new table as new_rows
for each statement execute function app_private.tg_projects__add_owner();

comment on trigger _900_add_owner on app.projects is 'Adds the owner''s membership row.';

create function app_private.tg_users__create_inbox() returns trigger
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  insert into app.projects (id, owner_id, name, is_inbox)
  select n.id, n.id, 'Inbox', true
  from new_rows as n;
  return null;
end;
$$;

comment on function app_private.tg_users__create_inbox() is 'Trigger: every new user gets their inbox project.';

create trigger _900_create_inbox
after insert on app.users
referencing new table as new_rows
for each statement execute function app_private.tg_users__create_inbox();

comment on trigger _900_create_inbox on app.users is 'Creates the inbox with the account.';

create function app.invite_to_project(project_id uuid, email text, role text) returns uuid
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  invitation_id pg_catalog.uuid;
begin
  if not exists (
    select from app.project_members as m
    where
      m.project_id = $1
      and m.user_id = app.current_user_id()
      and m.role operator(pg_catalog.=) 'owner'
  ) then
    raise exception 'only the owner of a project may invite to it'
      using errcode = 'insufficient_privilege';
  end if;
  if exists (select from app.projects as p where p.id = $1 and p.is_inbox) then
    raise exception 'an inbox is never shared'
      using
        errcode = 'check_violation',
        constraint = 'project_invitations_not_inbox_check',
        schema = 'app',
        table = 'project_invitations';
  end if;
  insert into app.project_invitations as i (project_id, email, role, invited_by)
  values ($1, $2::public.citext, $3::app.project_role, app.current_user_id())
  on conflict on constraint project_invitations_project_id_email_key do update
    set
      role = excluded.role,
      invited_by = excluded.invited_by,
      created_at = pg_catalog.now(),
      expires_at = pg_catalog.now() operator(pg_catalog.+) '7 days'::pg_catalog.interval
  returning i.id into invitation_id;
  return invitation_id;
end;
$$;

comment on function app.invite_to_project(project_id uuid, email text, role text) is
'Owner only: invites an email (with or without an account, indistinguishably) as editor or viewer; returns the id.';

create function app.accept_invitation(id uuid) returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  invitation record;
begin
  delete from app.project_invitations as i
  where
    i.id = $1
    and i.expires_at > pg_catalog.now()
    and i.email operator(public.=) (select u.email from app.users as u where u.id = app.current_user_id())
  returning i.project_id, i.role into invitation;
  if not found then
    raise exception 'there is no open invitation with this id for this user'
      using errcode = 'insufficient_privilege';
  end if;
  insert into app.project_members (project_id, user_id, role)
  values (invitation.project_id, app.current_user_id(), invitation.role)
  on conflict on constraint project_members_pkey do nothing;
end;
$$;

comment on function app.accept_invitation(id uuid) is
'The invitee (by email) joins the project with the invited role, before the invitation expires; 42501 otherwise.';

create function app.transfer_ownership(project_id uuid, new_owner uuid) returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  me constant pg_catalog.uuid := app.current_user_id();
begin
  if not exists (
    select from app.project_members as m
    where m.project_id = $1 and m.user_id = me and m.role operator(pg_catalog.=) 'owner'
  ) then
    raise exception 'only the owner of a project may transfer it'
      using errcode = 'insufficient_privilege';
  end if;
  -- Before the member check: an inbox has no other member, so that check would hide this rule.
  if exists (select from app.projects as p where p.id = $1 and p.is_inbox) then
    raise exception 'an inbox cannot change hands'
      using
        errcode = 'check_violation',
        constraint = 'projects_inbox_id_check',
        schema = 'app',
        table = 'projects';
  end if;
  if $2 = me then
    return;
  end if;
  if not exists (select from app.project_members as m where m.project_id = $1 and m.user_id = $2) then
    raise exception 'a project is transferred only to one of its members'
      using
        errcode = 'foreign_key_violation',
        constraint = 'projects_owner_is_member_check',
        schema = 'app',
        table = 'projects';
  end if;
  update app.projects as p set owner_id = $2 where p.id = $1;
  -- Two statements: project_members_one_owner_key is checked row by row.
  update app.project_members as m set role = 'editor' where m.project_id = $1 and m.user_id = me;
  update app.project_members as m set role = 'owner' where m.project_id = $1 and m.user_id = $2;
end;
$$;

comment on function app.transfer_ownership(project_id uuid, new_owner uuid) is
'Owner only: makes another member the owner; the old owner stays as an editor.';

create view app.project_member_profiles with (security_barrier) as
select
  m.project_id,
  m.user_id,
  m.role,
  u.name,
  u.email,
  m.created_at as joined_at
from app.project_members as m
inner join app.users as u on m.user_id = u.id
where m.project_id in (
  select mine.project_id from app.project_members as mine
  where mine.user_id = app.current_user_id()
);

comment on view app.project_member_profiles is
'The members of the identity''s projects: id, role, name and email only (never password hash or login times).';

-- Hand everything above to todo_auth, with its rights taken for this transaction only.
grant create on schema app, app_private to todo_auth;
grant todo_auth to current_user;

alter function app_private.current_user_project_ids() owner to todo_auth;
alter function app_private.current_user_owned_project_ids() owner to todo_auth;
alter function app_private.tg_projects__add_owner() owner to todo_auth;
alter function app_private.tg_users__create_inbox() owner to todo_auth;
alter function app.invite_to_project(uuid, text, text) owner to todo_auth;
alter function app.accept_invitation(uuid) owner to todo_auth;
alter function app.transfer_ownership(uuid, uuid) owner to todo_auth;
alter view app.project_member_profiles owner to todo_auth;

revoke all on function app_private.current_user_project_ids() from public;
revoke all on function app_private.current_user_owned_project_ids() from public;
revoke all on function app_private.tg_projects__add_owner() from public;
revoke all on function app_private.tg_users__create_inbox() from public;
revoke all on function app.invite_to_project(uuid, text, text) from public;
revoke all on function app.accept_invitation(uuid) from public;
revoke all on function app.transfer_ownership(uuid, uuid) from public;

grant execute on function app_private.current_user_project_ids() to todo_app, todo_readonly;
grant execute on function app_private.current_user_owned_project_ids() to todo_app, todo_readonly;
grant execute on function app.invite_to_project(uuid, text, text) to todo_app;
grant execute on function app.accept_invitation(uuid) to todo_app;
grant execute on function app.transfer_ownership(uuid, uuid) to todo_app;
grant select on app.project_member_profiles to todo_app, todo_readonly;

-- The policies call these two for every role that reads project_members, the schema owner too when it is not
-- a superuser (the history trigger runs with its rights); a superuser needs no grant.
do $$
begin
  if not (select r.rolsuper from pg_catalog.pg_roles as r where r.rolname = current_user) then
    execute pg_catalog.format(
      'grant execute on function app_private.current_user_project_ids(), '
      'app_private.current_user_owned_project_ids() to %I',
      current_user
    );
  end if;
end
$$;

-- The grants above are made with todo_auth's rights (it owns these now); then the loan ends.
revoke todo_auth from current_user;
revoke create on schema app, app_private from todo_auth;
