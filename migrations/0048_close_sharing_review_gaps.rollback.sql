-- Back to the history check at depth 1, the purge by user_id, member profiles through todo_auth's rows, and now().
-- squawk-ignore-file ban-drop-function
-- (A rollback exists to undo what its migration did.)
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
  -- A statement the app issued, not a foreign key's action (deleting a user or a project).
  checked constant boolean := not privileged and pg_catalog.pg_trigger_depth() = 1;
  foreign_rows boolean := false;
begin
  -- The retention job acts for nobody: its events carry no actor.
  if privileged and pg_catalog.current_setting('tododb.retention_job', true) = 'on' then
    actor := null;
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
      foreign_rows := exists (
        select from old_rows as o
        where o.project_id not in (
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
      exists (select from app.projects as p where p.id = o.project_id)
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
    perform pg_catalog.set_config('app.user_id', batch.user_id::pg_catalog.text, true);
    delete from app.tasks as t where t.user_id = batch.user_id and t.id = any(batch.ids);
    purged := purged + pg_catalog.cardinality(batch.ids);
  end loop;
  perform pg_catalog.set_config('app.user_id', '', true);
  perform pg_catalog.set_config('tododb.retention_job', '', true);
  return purged;
end;
$$;

-- These are todo_auth's: only a member (or a superuser) may replace or drop them.
grant todo_auth to current_user;

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

create or replace view app.project_member_profiles with (security_barrier) as
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

drop function app_private.member_profile(uuid);

drop function app_private.existing_project_ids(uuid[]);

revoke todo_auth from current_user;
