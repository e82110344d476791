-- Shared projects: their tasks, the user's own view across them (upcoming, assigned to me), the
-- projects and their members, and sharing (invitations, roles, leaving, ownership). Row-level
-- security keeps each user to the projects they are a member of; the definer functions
-- (app.invite_to_project, app.accept_invitation, app.transfer_ownership) check the owner or the
-- invitee themselves. Lists across projects follow the pattern described at the top of tasks.sql.

-- name: project_open_tasks(project_id, after_due_at, after_id, page_size)
-- One project's open (not completed, not deleted) tasks by due date, undated last, id as
-- tie-breaker; nothing for a project the user is not in.
-- Cursor: the last row's (due_at, id); an undated last row passes due_at null.
-- First page: after_due_at = '-infinity', after_id = '00000000-0000-0000-0000-000000000000'.
-- One range of one index per part, read in order and stopping at page_size: the rows come
-- straight from it (one project needs no merge of keys first, unlike the lists across projects).
-- Measured at 2,000,000 tasks, a page of 50 as a member: about 90 us, against 360 us when the keys
-- were read first and the rows fetched by tasks_pkey (four reads of app.tasks, each with its policy).
-- Served by tasks_project_id_due_at_open_idx (dated rows after the cursor), then
-- tasks_project_id_undated_open_idx (the undated ones).
(
  select
    t.id,
    t.title,
    t.status,
    t.priority,
    t.due_at,
    t.estimated_hours,
    t.created_at,
    t.updated_at,
    t.project_id,
    t.assignee_id,
    t.version
  from app.tasks as t
  where
    t.project_id = :project_id::uuid
    and t.deleted_at is null
    and t.status <> 'completed'
    and (t.due_at, t.id) > (:after_due_at::timestamptz, :after_id::uuid)
  order by t.due_at, t.id
  limit :page_size::integer
)
union all
(
  select
    t.id,
    t.title,
    t.status,
    t.priority,
    t.due_at,
    t.estimated_hours,
    t.created_at,
    t.updated_at,
    t.project_id,
    t.assignee_id,
    t.version
  from app.tasks as t
  where
    t.project_id = :project_id::uuid
    and t.deleted_at is null
    and t.status <> 'completed'
    and t.due_at is null
    and t.id > (
      case
        when :after_due_at::timestamptz is null then :after_id::uuid
        else '00000000-0000-0000-0000-000000000000'::uuid
      end
    )
  order by t.id
  limit :page_size::integer
)
limit :page_size::integer;

-- name: upcoming_tasks(after_due_at, after_id, page_size)
-- The user's open tasks with a due date, across every project they are in, by due date, id as
-- tie-breaker (undated ones are not listed).
-- Cursor: the last row's (due_at, id).
-- First page: after_due_at = '-infinity', after_id = '00000000-0000-0000-0000-000000000000' (overdue
-- ones first), or after_due_at = now() to start from the present.
-- A merge in two steps, so that a member of hundreds of projects reads about three keys per project,
-- not a page per project:
-- 1. firsts: each project's first 3 keys after the cursor (index-only, a Limit per project);
-- 2. bound: the page_size-th smallest of those. No row after it can be on the page, because
--    page_size keys before it are already known;
-- 3. rest: only the projects whose 3rd key comes before the bound can hold more of the page (at most
--    page_size / 3 of them): their keys after that 3rd one, up to the bound, stopping at page_size.
--    The bound is an index condition, so each of those reads stops at it (with fewer than page_size
--    keys in firsts there is no bound: limit_key is then past every key). As a join filter it let
--    a project read on to its last task: 1,116 keys instead of 27 for the user in 200 projects.
-- The page is the first page_size of firsts and rest, fetched by tasks_pkey.
-- Served by project_members_user_id_idx, tasks_project_id_due_at_open_idx and tasks_pkey.
with
mine as materialized (
  select m.project_id
  from app.project_members as m
  where m.user_id = app.current_user_id()
),

firsts as materialized (
  select
    f.project_id,
    f.due_at,
    f.id,
    f.n
  from mine
  cross join lateral (
    select
      t.project_id,
      t.due_at,
      t.id,
      row_number() over (order by t.due_at, t.id) as n
    from app.tasks as t
    where
      t.project_id = mine.project_id
      and t.deleted_at is null
      and t.status <> 'completed'
      and t.due_at is not null
      and (t.due_at, t.id) > (:after_due_at::timestamptz, :after_id::uuid)
    order by t.due_at, t.id
    limit 3
  ) as f
),

bound as materialized (
  select
    f.due_at,
    f.id
  from firsts as f
  order by f.due_at, f.id
  limit
    1
    offset (:page_size::integer - 1)
),

limit_key as materialized (
  select
    coalesce((select b.due_at from bound as b), 'infinity'::timestamptz) as due_at,
    coalesce((select b.id from bound as b), 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid) as id
),

rest as (
  select
    r.due_at,
    r.id
  from firsts as third
  cross join limit_key as b
  cross join
    lateral (
      select
        t.due_at,
        t.id
      from app.tasks as t
      where
        t.project_id = third.project_id
        and t.deleted_at is null
        and t.status <> 'completed'
        and t.due_at is not null
        and (t.due_at, t.id) > (third.due_at, third.id)
        and (t.due_at, t.id) <= (b.due_at, b.id)
      order by t.due_at, t.id
      limit :page_size::integer
    ) as r
  where
    third.n = 3
    and (third.due_at, third.id) < (b.due_at, b.id)
)

select
  t.id,
  t.title,
  t.status,
  t.priority,
  t.due_at,
  t.estimated_hours,
  t.created_at,
  t.updated_at,
  t.project_id,
  t.assignee_id,
  t.version
from (
  select
    k.due_at,
    k.id
  from (
    select
      f.due_at,
      f.id
    from firsts as f
    union all
    select
      r.due_at,
      r.id
    from rest as r
  ) as k
  order by k.due_at, k.id
  limit :page_size::integer
) as page
inner join app.tasks as t on page.id = t.id
order by page.due_at, page.id;

-- name: tasks_assigned_to_me(after_due_at, after_id, page_size)
-- Open tasks assigned to the user, in every project they are in, by due date, undated last, id as
-- tie-breaker.
-- Cursor: the last row's (due_at, id); an undated last row passes due_at null.
-- First page: after_due_at = '-infinity', after_id = '00000000-0000-0000-0000-000000000000'.
-- Served by tasks_assignee_id_due_at_open_idx: the user's dated range after the cursor, then the
-- undated one (due_at null sorts last there), read in order, each stopping at page_size.
(
  select
    t.id,
    t.title,
    t.status,
    t.priority,
    t.due_at,
    t.estimated_hours,
    t.created_at,
    t.updated_at,
    t.project_id,
    t.assignee_id,
    t.version
  from app.tasks as t
  where
    t.assignee_id = app.current_user_id()
    and t.deleted_at is null
    and t.status <> 'completed'
    and (t.due_at, t.id) > (:after_due_at::timestamptz, :after_id::uuid)
  order by t.due_at, t.id
  limit :page_size::integer
)
union all
(
  select
    t.id,
    t.title,
    t.status,
    t.priority,
    t.due_at,
    t.estimated_hours,
    t.created_at,
    t.updated_at,
    t.project_id,
    t.assignee_id,
    t.version
  from app.tasks as t
  where
    t.assignee_id = app.current_user_id()
    and t.deleted_at is null
    and t.status <> 'completed'
    and t.due_at is null
    and t.id > (
      case
        when :after_due_at::timestamptz is null then :after_id::uuid
        else '00000000-0000-0000-0000-000000000000'::uuid
      end
    )
  -- (due_at, id) with due_at all null is id order, and the index's own: no sort.
  order by t.due_at, t.id
  limit :page_size::integer
)
limit :page_size::integer;

-- name: my_projects()
-- The user's projects (the inbox first, then by name), each with the user's role and its number of
-- open tasks: per membership, an index-only count of the project's open range.
-- Served by project_members_user_id_idx and tasks_project_id_due_at_open_idx. The projects
-- themselves come by projects_pkey, or in one pass when the user is in a good share of them all.
select
  p.id,
  p.name,
  m.role,
  p.is_inbox,
  p.archived_at,
  c.open_tasks,
  p.created_at,
  p.version
from app.project_members as m
inner join app.projects as p on m.project_id = p.id
inner join lateral (
  select count(*) as open_tasks
  from app.tasks as t
  where t.project_id = m.project_id and t.deleted_at is null and t.status <> 'completed'
) as c on true
where m.user_id = app.current_user_id()
order by p.is_inbox desc, p.name asc, p.id asc;

-- name: project_members(project_id)
-- The members of a project, in the order they joined (the owner first): id, name, email and
-- role, never a password hash or login times; nothing for a project the user is not in.
-- Served by project_members_pkey (the project's members). Their profiles come by users_pkey,
-- or in one pass when the project has members enough for that to be cheaper.
select
  p.user_id as id,
  p.name,
  p.email,
  p.role,
  p.version
from app.project_member_profiles as p
where p.project_id = :project_id::uuid
order by p.role = 'owner' desc, p.joined_at asc, p.user_id asc;

-- name: create_project(name)<!
-- Creates a project; the user is its owner from this statement on. A blank or too long name fails
-- with check_violation (23514, projects_name_not_blank_check / projects_name_length_check).
insert into app.projects (name)
values (:name::text)
returning id, name, is_inbox, archived_at, created_at, updated_at, version;

-- name: invite_to_project(project_id, email, role)$
-- Owner only: invites an email (with or without an account, indistinguishably) as editor or
-- viewer; returns the invitation's id (inviting the same address again renews it). Anyone but
-- the owner gets insufficient_privilege (42501); an inbox check_violation (23514,
-- project_invitations_not_inbox_check).
select app.invite_to_project(:project_id::uuid, :email::text, :role::text) as invitation_id;

-- name: accept_invitation(invitation_id)!
-- The invitee (the user whose email it names) joins the project with the invited role, before
-- it expires; anything else is insufficient_privilege (42501).
select app.accept_invitation(:invitation_id::uuid);

-- name: change_member_role(project_id, user_id, version, role)<!
-- Owner only: makes a member an editor or a viewer; returns nothing for anyone else, or for the
-- owner's own row. Making someone the owner this way fails with insufficient_privilege (42501):
-- use transfer_ownership. Changes nothing unless the membership is still at the version the
-- client read (project_members). Version check: member_version. Served by project_members_pkey.
update app.project_members as m
set role = :role::text
where m.project_id = :project_id::uuid and m.user_id = :user_id::uuid and m.version = :version::integer
returning m.project_id, m.user_id, m.role, m.version;

-- name: member_version(project_id, user_id)$
-- The version of a membership the user can see, or nothing: how a change_member_role that changed
-- nothing tells a stale version from a missing or forbidden row. Served by project_members_user_id_idx
-- (user_id, project_id: both keys are given).
select m.version
from app.project_members as m
where m.project_id = :project_id::uuid and m.user_id = :user_id::uuid;

-- name: remove_member(project_id, user_id)!
-- Owner only: removes a member (their assignments in the project are cleared); the owner's row
-- stays. Returns how many rows went (0 or 1). Served by project_members_pkey.
delete from app.project_members as m
where m.project_id = :project_id::uuid and m.user_id = :user_id::uuid;

-- name: leave_project(project_id)!
-- The user leaves a project they are an editor or a viewer of (their assignments there are
-- cleared); 0 for the owner, who transfers ownership first. Served by project_members_pkey.
delete from app.project_members as m
where m.project_id = :project_id::uuid and m.user_id = app.current_user_id();

-- name: transfer_ownership(project_id, new_owner)!
-- Owner only: makes another member the owner; the old owner stays as an editor. Anyone but the
-- owner gets insufficient_privilege (42501); a new owner who is not a member
-- foreign_key_violation (23503, projects_owner_is_member_check).
select app.transfer_ownership(:project_id::uuid, :new_owner::uuid);
