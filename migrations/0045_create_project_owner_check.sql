-- Check at commit that every project has exactly one owner member: the user its owner_id names.
-- depends: 0044_validate_creator_keys
/*
  project_members_one_owner_key (0032) allows at most one owner row per
  project; the policies keep the app from removing or demoting it (0035).
  This constraint trigger closes the rest, for every role, the owner's
  maintenance included: at commit (DEFERRABLE INITIALLY DEFERRED, so that
  app.transfer_ownership() may swap the two rows and owner_id in any order
  within its transaction), each project touched must have its owner_id's
  member row with role owner. A project that is gone (deleted, or with its
  owner's account) is skipped: its memberships went with it.

  The check reads rows the caller may not see (a member who leaves no
  longer sees the project), so it runs as todo_auth, like the rest of the
  sharing code (0034). A broken rule fails with check_violation (23514),
  constraint `project_members_one_owner_check`.
*/
set local lock_timeout = '5s';
set local statement_timeout = '30s';

create function app_private.tg_projects__check_one_owner() returns trigger
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  project pg_catalog.uuid;
begin
  if tg_table_name = 'projects' then
    project := new.id;
  elsif tg_op = 'DELETE' then
    project := old.project_id;
  else
    project := new.project_id;
  end if;
  if not exists (select from app.projects as p where p.id = project) then
    return null;
  end if;
  if not exists (
    select from app.projects as p
    inner join app.project_members as m on m.project_id = p.id and m.user_id = p.owner_id
    where p.id = project and m.role operator(pg_catalog.=) 'owner'
  ) then
    raise exception 'a project has exactly one owner: the member its owner_id names'
      using
        errcode = 'check_violation',
        constraint = 'project_members_one_owner_check',
        schema = 'app',
        table = 'project_members';
  end if;
  return null;
end;
$$;

comment on function app_private.tg_projects__check_one_owner() is
'Constraint trigger: at commit, a project still there has its owner_id as its one owner member.';

create constraint trigger _900_check_one_owner
after insert or update or delete on app.project_members
deferrable initially deferred
for each row execute function app_private.tg_projects__check_one_owner();

comment on trigger _900_check_one_owner on app.project_members is
'At commit: the project keeps exactly one owner, the user its owner_id names.';

create constraint trigger _900_check_one_owner
after insert or update of owner_id on app.projects
deferrable initially deferred
for each row execute function app_private.tg_projects__check_one_owner();

comment on trigger _900_check_one_owner on app.projects is
'At commit: a new or transferred project has its owner_id as its owner member.';

grant create on schema app_private to todo_auth;
grant todo_auth to current_user;

alter function app_private.tg_projects__check_one_owner() owner to todo_auth;

revoke all on function app_private.tg_projects__check_one_owner() from public;

revoke todo_auth from current_user;
revoke create on schema app_private from todo_auth;
