-- Create project memberships: who may see and change a project's tasks, with one owner each.
-- depends: 0031_create_projects
/*
  The primary key (project_id, user_id) makes a user a member at most once
  and serves the project's member list; project_members_user_id_idx (user_id,
  project_id, role) is what every membership policy reads: one index-only
  range per statement for "the projects I am in".

  At most one owner per project: a unique index on project_id over the
  owner rows (project_members_one_owner_key). At least one: the owner row is
  added with the project (0034) and the app can neither delete it nor
  change its role (0035); ownership moves only through
  app.transfer_ownership(), which swaps the two rows in one statement.
*/
set local lock_timeout = '5s';
set local statement_timeout = '30s';

create table app.project_members (
  project_id uuid not null,
  user_id uuid not null,
  -- "role" is the name SPEC.md gives the column, and a keyword to sqlfluff.
  role app.project_role not null,  -- noqa: RF04
  created_at timestamptz not null default now(),
  constraint project_members_pkey primary key (project_id, user_id),
  constraint project_members_project_id_fkey foreign key (project_id)
  references app.projects (id) on delete cascade,
  constraint project_members_user_id_fkey foreign key (user_id) references app.users (id) on delete cascade
);

comment on table app.project_members is
'Who is in which project, and with which role; exactly one owner per project.';
comment on column app.project_members.project_id is 'The project; deleting it removes its memberships.';
comment on column app.project_members.user_id is 'The member; deleting the user removes their memberships.';
comment on column app.project_members.role is 'owner, editor or viewer.';
comment on column app.project_members.created_at is 'When the user joined the project.';
comment on constraint project_members_pkey on app.project_members is
'A user is a member of a project at most once; serves the project''s member list.';
comment on constraint project_members_project_id_fkey on app.project_members is
'The project exists; deleting it removes its memberships.';
comment on constraint project_members_user_id_fkey on app.project_members is
'The member exists; deleting the user removes their memberships.';

create unique index project_members_one_owner_key on app.project_members (project_id)
where role = 'owner';

comment on index app.project_members_one_owner_key is 'At most one owner per project.';

create index project_members_user_id_idx on app.project_members (user_id, project_id, role);

comment on index app.project_members_user_id_idx is
'Serves every membership policy (the projects of the identity, index-only) and the foreign key to users.';
