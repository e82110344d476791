-- Close gaps a review found in sharing: history at every trigger depth, purge, member profiles, expiry.
-- depends: 0047_drop_user_task_indexes
/*
  - tg_tasks__record_events checked its rows only at pg_trigger_depth() = 1,
    to let foreign keys' cascades through; but any login can nest its own
    statement one trigger deep (a pg_temp table with a pg_temp trigger
    function), and where a superuser owns the schema nothing else stands
    between that statement and task_events: it recorded any actor, or none.
    The check now runs at every depth. The one cascade it has to let through,
    a project's tasks deleted with it, is exempt by row, as its events are:
    the project is gone. Which projects exist is asked with todo_auth's
    rights (app_private.existing_project_ids): under an ordinary owner's
    row-level security, a project the identity in force cannot see looked
    deleted, and a hard delete under a cleared identity left no event.
  - purge_deleted_tasks deleted `where user_id = batch.user_id`: a binned task
    whose creator deleted their account (user_id NULL since 0043) was counted
    and never deleted, and `maintain purge` never ended.
  - app.project_member_profiles read through todo_auth's `using (true)` rows
    behind a security barrier, but PostgreSQL still pushes a caller's
    leakproof quals (`email::text = ...`, `<`) below a barrier: EXPLAIN
    ANALYZE then counted every user and membership, and bisection listed
    them. The view now reads memberships with the caller's own policies
    (security_invoker) and the name and email through a definer function,
    which the planner never inlines, for co-members only.
  - app.accept_invitation compared expires_at with now(), the transaction's
    start: a transaction begun before expiry could accept after it.
  - The archive job's deletes leave no hard_deleted event when it says so
    (tododb.archive_job, honoured only for a session that bypasses row-level
    security): the trigger's own look for the task in the archive runs under
    the owner's row-level security, blind without the creator's identity.
*/
set local lock_timeout = '5s';
set local statement_timeout = '30s';

create or replace function app_private.tg_tasks__record_events() returns trigger
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  actor pg_catalog.uuid := app.current_user_id();
  -- A superuser or BYPASSRLS session: the only kind that may run retention, or write history unchecked.
  privileged constant boolean := exists (
    select from pg_catalog.pg_roles as r where r.rolname = session_user and (r.rolsuper or r.rolbypassrls)
  );
  -- Every statement at every trigger depth: a login can nest its statements in a pg_temp trigger of its own.
  checked constant boolean := not privileged;
  foreign_rows boolean := false;
begin
  -- The retention job acts for nobody: its events carry no actor.
  if privileged and pg_catalog.current_setting('tododb.retention_job', true) = 'on' then
    actor := null;
  end if;
  -- The archive job moves tasks, it does not delete them: no hard_deleted events (0049 sets the switch; like
  -- retention's, it counts only for a session that bypasses row-level security).
  if tg_op = 'DELETE' and privileged and pg_catalog.current_setting('tododb.archive_job', true) = 'on' then
    return null;
  end if;
  -- History is written only for tasks in projects the identity in force may edit, as task_events' insert
  -- policy demands when the schema owner is not a superuser: a statement that changes app.user_id while it
  -- runs (set_config in its RETURNING list) must not record another actor, or none, where a superuser owns
  -- the schema.
  if checked then
    if tg_op = 'INSERT' then
      foreign_rows := exists (
        select from new_rows as n
        where n.project_id not in (
          select m.project_id from app.project_members as m where m.user_id = actor and m.role <> 'viewer'
        )
      );
    elsif tg_op = 'UPDATE' then
      foreign_rows := exists (
        select from old_rows as o
        inner join new_rows as n on n.id = o.id
        where
          (o.status is distinct from n.status or (o.deleted_at is null) <> (n.deleted_at is null))
          and n.project_id not in (
          select m.project_id from app.project_members as m where m.user_id = actor and m.role <> 'viewer'
        )
      );
    else
      -- A task deleted with its project (the foreign key's cascade) is exempt: it leaves no event either.
      foreign_rows := exists (
        select from old_rows as o
        where
          o.project_id in (
            select app_private.existing_project_ids(array(select o2.project_id from old_rows as o2))
          )
          and o.project_id not in (
          select m.project_id from app.project_members as m where m.user_id = actor and m.role <> 'viewer'
        )
      );
    end if;
    if foreign_rows then
      raise exception 'task history is written only for the identity in force'
        using errcode = 'insufficient_privilege', schema = tg_table_schema, table = tg_table_name;
    end if;
  end if;
  if tg_op = 'INSERT' then
    insert into app.task_events (user_id, project_id, task_id, actor_id, kind, new_status)
    select n.user_id, n.project_id, n.id, actor, 'created', n.status
    from new_rows as n;
  elsif tg_op = 'UPDATE' then
    insert into app.task_events (user_id, project_id, task_id, actor_id, kind, old_status, new_status)
    select n.user_id, n.project_id, n.id, actor, e.kind, e.old_status, e.new_status
    from old_rows as o
    inner join new_rows as n on n.id = o.id
    cross join lateral (
      values
      ('status_changed', o.status, n.status, o.status is distinct from n.status),
      ('deleted', null, null, o.deleted_at is null and n.deleted_at is not null),
      ('restored', null, null, o.deleted_at is not null and n.deleted_at is null)
    ) as e (kind, old_status, new_status, happened)
    where e.happened;
  else
    -- A task deleted with its project leaves no event: the project's history goes with it.
    insert into app.task_events (user_id, project_id, task_id, actor_id, kind)
    select o.user_id, o.project_id, o.id, actor, 'hard_deleted'
    from old_rows as o
    where
      -- Looked up with todo_auth's rights: under the owner's row-level security a project the identity in
      -- force cannot see would look deleted, and its task's hard delete would leave no event.
      o.project_id in (select app_private.existing_project_ids(array(select o2.project_id from old_rows as o2)))
      and not exists (select from app.tasks_archive as a where a.id = o.id);
  end if;
  return null;
end;
$$;

create or replace function app_private.purge_deleted_tasks(deleted_before timestamptz, batch_size integer)
returns integer
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  batch record;
  purged integer := 0;
begin
  perform pg_catalog.set_config('tododb.retention_job', 'on', true);
  for batch in
    select c.user_id, array_agg(c.id) as ids
    from (
      select t.user_id, t.id
      from app.tasks as t
      where t.deleted_at < deleted_before
      order by t.deleted_at, t.id
      limit batch_size
      for update skip locked
    ) as c
    group by c.user_id
  loop
    perform pg_catalog.set_config('app.user_id', coalesce(batch.user_id::pg_catalog.text, ''), true);
    delete from app.tasks as t where t.user_id is not distinct from batch.user_id and t.id = any(batch.ids);
    purged := purged + pg_catalog.cardinality(batch.ids);
  end loop;
  perform pg_catalog.set_config('app.user_id', '', true);
  perform pg_catalog.set_config('tododb.retention_job', '', true);
  return purged;
end;
$$;

-- The functions below are todo_auth's, made with its rights taken for this transaction only (as in 0034).
grant create on schema app_private to todo_auth;
grant todo_auth to current_user;

create function app_private.existing_project_ids(ids uuid[]) returns setof uuid
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select p.id from app.projects as p where p.id = any(ids);
$$;

comment on function app_private.existing_project_ids(uuid[]) is
'Those of the ids that are projects, whoever asks; for the history trigger, which row-level security would blind.';

alter function app_private.existing_project_ids(uuid[]) owner to todo_auth;

revoke all on function app_private.existing_project_ids(uuid[]) from public;

create function app_private.member_profile(member uuid, out name text, out email public.citext)
returns record
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select u.name, u.email
  from app.users as u
  where
    u.id = member
    and exists (
      select from app.project_members as theirs
      where
        theirs.user_id = member
        and theirs.project_id in (
          select mine.project_id from app.project_members as mine where mine.user_id = app.current_user_id()
        )
    );
$$;

comment on function app_private.member_profile(uuid) is
'Name and email of a user who shares a project with the identity (nulls otherwise); for project_member_profiles.';

alter function app_private.member_profile(uuid) owner to todo_auth;

revoke all on function app_private.member_profile(uuid) from public;

grant execute on function app_private.member_profile(uuid) to todo_app, todo_readonly;

create or replace view app.project_member_profiles with (security_barrier, security_invoker = true) as
select
  m.project_id,
  m.user_id,
  m.role,
  p.name,
  p.email,
  m.created_at as joined_at
from app.project_members as m
cross join lateral app_private.member_profile(m.user_id) as p
where m.project_id in (select app_private.current_user_project_ids());

create or replace function app.accept_invitation(id uuid) returns void
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
    -- The clock, not the transaction's start: a transaction begun before expiry must not accept after it.
    and i.expires_at > pg_catalog.clock_timestamp()
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

-- The history trigger runs with the schema owner's rights; a superuser needs no grant.
do $$
begin
  if not (select r.rolsuper from pg_catalog.pg_roles as r where r.rolname = current_user) then
    execute pg_catalog.format(
      'grant execute on function app_private.existing_project_ids(uuid[]) to %I', current_user
    );
  end if;
end
$$;

revoke todo_auth from current_user;
revoke create on schema app_private from todo_auth;
