-- Row-level security by membership on tasks and their history; tags go on any task the tagger can see.
-- depends: 0037_add_task_event_project_columns
/*
  A member sees a project's tasks and their history; an owner or editor
  also writes them; a viewer only reads. Every policy reads the identity's
  memberships once per statement: `project_id in (select ... from
  app.project_members where user_id = <identity>)` is a hashed SubPlan, one
  index-only range of project_members_user_id_idx, then a hash probe per
  row; it is never a lookup per row. project_members' own policy lets its
  rows through on `user_id = <identity>` before it would call anything.

  Until the backfill (0040) has filled in project_id, a task without one is
  its creator's, as before (the `project_id is null` arms); 0043 drops
  those arms with the NULLs.

  The backfill runs as the schema owner, which row-level security (forced)
  shows nothing without an identity. The `_backfill` policies let it see
  users, create their inboxes, and update the tasks and history rows that have no project yet, and
  only while app_private.backfilling_projects() is true: the session's
  login is a member of the owner of schema app and the transaction set
  tododb.backfill_projects. A login of todo_app that sets the switch gets
  nothing (the pool refuses logins that are members of the owner). 0043
  drops them.
*/
set local lock_timeout = '5s';
set local statement_timeout = '30s';

drop policy tasks_select_own on app.tasks;
drop policy tasks_insert_own on app.tasks;
drop policy tasks_update_own on app.tasks;
drop policy tasks_delete_own on app.tasks;
drop policy task_events_select_own on app.task_events;
drop policy task_events_insert_own on app.task_events;

create policy tasks_select_member on app.tasks for select
using (
  project_id in (
    select m.project_id from app.project_members as m
    where m.user_id = (select app.current_user_id())
  )
  or (project_id is null and user_id = (select app.current_user_id()))
);

comment on policy tasks_select_member on app.tasks is 'A member sees the project''s tasks.';

create policy tasks_insert_editor on app.tasks for insert
with check (
  user_id = (select app.current_user_id())
  and project_id in (
    select m.project_id from app.project_members as m
    where m.user_id = (select app.current_user_id()) and m.role <> 'viewer'
  )
);

comment on policy tasks_insert_editor on app.tasks is
'An owner or editor adds tasks to the project, as their creator.';

create policy tasks_update_editor on app.tasks for update
using (
  project_id in (
    select m.project_id from app.project_members as m
    where m.user_id = (select app.current_user_id()) and m.role <> 'viewer'
  )
  or (project_id is null and user_id = (select app.current_user_id()))
)
with check (
  project_id in (
    select m.project_id from app.project_members as m
    where m.user_id = (select app.current_user_id()) and m.role <> 'viewer'
  )
  or (project_id is null and user_id = (select app.current_user_id()))
);

comment on policy tasks_update_editor on app.tasks is
'An owner or editor changes the project''s tasks (and may move them to another project they edit).';

create policy tasks_delete_editor on app.tasks for delete
using (
  project_id in (
    select m.project_id from app.project_members as m
    where m.user_id = (select app.current_user_id()) and m.role <> 'viewer'
  )
  or (project_id is null and user_id = (select app.current_user_id()))
);

comment on policy tasks_delete_editor on app.tasks is 'An owner or editor hard-deletes the project''s tasks.';

create policy task_events_select_member on app.task_events for select
using (
  project_id in (
    select m.project_id from app.project_members as m
    where m.user_id = (select app.current_user_id())
  )
  or (project_id is null and user_id = (select app.current_user_id()))
);

comment on policy task_events_select_member on app.task_events is 'A member reads the history of the project''s tasks.';

create policy task_events_insert_editor on app.task_events for insert
with check (
  project_id in (
    select m.project_id from app.project_members as m
    where m.user_id = (select app.current_user_id()) and m.role <> 'viewer'
  )
  or (project_id is null and user_id = (select app.current_user_id()))
);

comment on policy task_events_insert_editor on app.task_events is
'The history trigger (the owner''s rights) writes events only for projects the identity may edit.';

grant insert (project_id, assignee_id), update (project_id, assignee_id) on app.tasks to todo_app;

drop policy task_tags_insert_own on app.task_tags;

create policy task_tags_insert_visible_task on app.task_tags for insert
with check (
  user_id = (select app.current_user_id())
  and exists (
    select from app.tasks as t
    where t.id = task_tags.task_id
  )
);

comment on policy task_tags_insert_visible_task on app.task_tags is
'A user puts their own tags on any task they can see; nobody else sees the link.';

create function app_private.backfilling_projects() returns boolean
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select
    pg_catalog.current_setting('tododb.backfill_projects', true) operator(pg_catalog.=) 'on'
    and pg_catalog.pg_has_role(
      session_user,
      (select n.nspowner from pg_catalog.pg_namespace as n where n.nspname operator(pg_catalog.=) 'app'),
      'USAGE'
    );
$$;

comment on function app_private.backfilling_projects() is
'True while the schema owner''s backfill of projects runs (0040), in its own transactions only.';

revoke all on function app_private.backfilling_projects() from public;

grant execute on function app_private.backfilling_projects() to todo_app, todo_readonly, todo_auth;

create policy users_select_backfill on app.users for select
using ((select app_private.backfilling_projects()));

comment on policy users_select_backfill on app.users is 'Until 0043: the backfill finds every user.';

create policy projects_insert_backfill on app.projects for insert
with check (is_inbox and (select app_private.backfilling_projects()));

comment on policy projects_insert_backfill on app.projects is 'Until 0043: the backfill creates the missing inboxes.';

-- Not only the rows without a project: an UPDATE that reads columns must leave a row its select policies
-- still show (42501 otherwise), and once moved a row has a project the owner, without an identity, is not in.
create policy tasks_select_backfill on app.tasks for select
using ((select app_private.backfilling_projects()));

comment on policy tasks_select_backfill on app.tasks is
'Until 0043: the backfill finds tasks without a project, and sees them once moved.';

create policy tasks_update_backfill on app.tasks for update
using (project_id is null and (select app_private.backfilling_projects()))
with check ((select app_private.backfilling_projects()));

comment on policy tasks_update_backfill on app.tasks is 'Until 0043: the backfill moves them into an inbox.';

-- Not only the rows without a project: an UPDATE that reads columns must leave a row its select policies
-- still show (42501 otherwise), and once moved a row has a project the owner, without an identity, is not in.
create policy task_events_select_backfill on app.task_events for select
using ((select app_private.backfilling_projects()));

comment on policy task_events_select_backfill on app.task_events is
'Until 0043: the backfill finds history without a project, and sees it once filled in.';

create policy task_events_update_backfill on app.task_events for update
using (project_id is null and (select app_private.backfilling_projects()))
with check ((select app_private.backfilling_projects()));

comment on policy task_events_update_backfill on app.task_events is
'Until 0043: the backfill fills in its project.';
