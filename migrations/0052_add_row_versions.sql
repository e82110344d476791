-- Give every row the app updates a version that only the server moves, for updates that refuse a stale read.
-- depends: 0051_create_task_tags_archive_task_id_index
-- squawk-ignore-file prefer-bigint-over-int
-- (A version is no key: a row would need 2^31 updates to run out.)
/*
  Optimistic locking: a client reads a row with its version and sends that
  version back with its change; the named updates change the row only while
  its version is still the one read (0 rows otherwise), so two devices or two
  editors saving the same task no longer overwrite each other silently.

  - version: integer NOT NULL default 1 on tasks, projects, project_members,
    tags and users. A constant default is kept in the catalog (PostgreSQL
    11+): adding it rewrites and scans nothing, so each statement holds its
    lock for a moment. An integer is enough: a row would need 2^31 updates.
  - Only the server moves it: no role of the app is granted INSERT or UPDATE
    on the column (the grants are per column), and the trigger
    _110_next_version sets it to the old version + 1 on every update,
    whatever the statement says.
  - users: the version moves only when a field the user edits changes
    (email, name, theme). Signing in (last_login_at) or a new password hash
    is not an edit of the profile another device holds.
  - The app reads the version where it reads the row: SELECT on tasks,
    projects, project_members and tags is granted per table; on users it is
    per column, so it is granted here; project_member_profiles (todo_auth's
    view, replaced with its rights taken for this transaction only, as in
    0048) gains the membership's version for change_member_role.
*/
set local lock_timeout = '5s';
set local statement_timeout = '30s';

create function app_private.tg__next_version() returns trigger
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  new.version := old.version operator(pg_catalog.+) 1;
  return new;
end;
$$;

comment on function app_private.tg__next_version() is
'Trigger: moves a row''s version on by one on every update, whatever the statement set it to.';

revoke all on function app_private.tg__next_version() from public;

alter table app.tasks add column version integer not null default 1;

comment on column app.tasks.version is
'Moves on by one with every update (trigger): an update sends the version it read and changes nothing if it moved.';

create trigger _110_next_version
before update on app.tasks
for each row execute function app_private.tg__next_version();

comment on trigger _110_next_version on app.tasks is 'Moves the version on with every update.';

alter table app.projects add column version integer not null default 1;

comment on column app.projects.version is
'Moves on by one with every update (trigger): an update sends the version it read and changes nothing if it moved.';

create trigger _110_next_version
before update on app.projects
for each row execute function app_private.tg__next_version();

comment on trigger _110_next_version on app.projects is 'Moves the version on with every update.';

alter table app.project_members add column version integer not null default 1;

comment on column app.project_members.version is
'Moves on by one with every change of role (trigger): a change sends the version it read, or changes nothing.';

create trigger _110_next_version
before update on app.project_members
for each row execute function app_private.tg__next_version();

comment on trigger _110_next_version on app.project_members is 'Moves the version on with every update.';

alter table app.tags add column version integer not null default 1;

comment on column app.tags.version is
'Moves on by one with every update (trigger): an update sends the version it read and changes nothing if it moved.';

create trigger _110_next_version
before update on app.tags
for each row execute function app_private.tg__next_version();

comment on trigger _110_next_version on app.tags is 'Moves the version on with every update.';

alter table app.users add column version integer not null default 1;

comment on column app.users.version is
'Moves on by one when the profile (email, name, theme) changes (trigger); signing in does not move it.';

create trigger _110_next_version
before update on app.users
for each row
-- email as text: citext's own operator lives in public, which a restore's empty search_path cannot see; the
-- dump's `is distinct from` would come back as text's (case-sensitive) operator, a different trigger. Compared as
-- text from the start, a change of case is an edit too, and the trigger restores as it was made.
when (
  old.email::text is distinct from new.email::text
  or old.name is distinct from new.name
  or old.theme is distinct from new.theme
)
execute function app_private.tg__next_version();

comment on trigger _110_next_version on app.users is 'Moves the version on when the profile changes.';

grant select (version) on app.users to todo_app, todo_readonly;

grant todo_auth to current_user;

create or replace view app.project_member_profiles with (security_barrier, security_invoker = true) as
select
  m.project_id,
  m.user_id,
  m.role,
  p.name,
  p.email,
  m.created_at as joined_at,
  m.version
from app.project_members as m
cross join lateral app_private.member_profile(m.user_id) as p
where m.project_id in (select app_private.current_user_project_ids());

revoke todo_auth from current_user;
