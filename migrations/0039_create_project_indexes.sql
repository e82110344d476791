-- Create the indexes that serve tasks by project, assignments, moved tags and project history, without blocking writes.
-- depends: 0038_share_task_policies
-- transactional: false
/*
  The per-project twins of the per-user indexes of 0008-0022: every named
  query now reads one project's range (the identity's projects one after
  another, merged), where it used to read one user's. Built concurrently
  (the template in 0019); each drop clears a leftover of a failed build.

  - tasks_project_id_due_at_open_idx, tasks_project_id_undated_open_idx:
    open tasks by due date, undated last; overdue.
  - tasks_project_id_status_created_at_live_idx: tasks by status, newest first,
    and counts per status (index-only).
  - tasks_project_id_deleted_at_bin_idx: the bin.
  - tasks_assignee_id_due_at_open_idx: tasks assigned to me, by due date.
  - tasks_project_id_assignee_id_idx: the foreign keys' lookups when a project
    is deleted and when a member leaves (project_id, assignee_id).
  - task_tags_task_id_idx: the foreign key to tasks (a task's links go with it).
  - task_events_project_id_task_id_idx: a task's history in order, and the
    foreign key to projects; task_events_actor_id_idx the one to users.
  - tasks_archive_project_id_idx: the foreign key to projects.
*/
set lock_timeout = '5s';
-- A concurrent build on a big table may rightly take long; it does not block writes.
set statement_timeout = '1h';

drop index concurrently if exists app.tasks_project_id_due_at_open_idx;

-- squawk-ignore prefer-robust-stmts
create index concurrently tasks_project_id_due_at_open_idx on app.tasks (project_id, due_at, id)
where deleted_at is null and status <> 'completed';

comment on index app.tasks_project_id_due_at_open_idx is
'Serves the open-tasks-by-due-date, upcoming and overdue queries, one project at a time.';

drop index concurrently if exists app.tasks_project_id_undated_open_idx;

-- squawk-ignore prefer-robust-stmts
create index concurrently tasks_project_id_undated_open_idx on app.tasks (project_id, id)
where deleted_at is null and status <> 'completed' and due_at is null;

comment on index app.tasks_project_id_undated_open_idx is
'Serves the undated tail of the open-tasks-by-due-date query.';

drop index concurrently if exists app.tasks_project_id_status_created_at_live_idx;

-- squawk-ignore prefer-robust-stmts
create index concurrently tasks_project_id_status_created_at_live_idx
on app.tasks (project_id, status, created_at desc, id desc)
where deleted_at is null;

comment on index app.tasks_project_id_status_created_at_live_idx is
'Serves tasks by status, newest first, and the project''s open-task count.';

drop index concurrently if exists app.tasks_project_id_deleted_at_bin_idx;

-- squawk-ignore prefer-robust-stmts
create index concurrently tasks_project_id_deleted_at_bin_idx on app.tasks (project_id, deleted_at desc, id desc)
where deleted_at is not null;

comment on index app.tasks_project_id_deleted_at_bin_idx is 'Serves the bin, one project at a time.';

drop index concurrently if exists app.tasks_assignee_id_due_at_open_idx;

-- squawk-ignore prefer-robust-stmts
create index concurrently tasks_assignee_id_due_at_open_idx on app.tasks (assignee_id, due_at, id)
where assignee_id is not null and deleted_at is null and status <> 'completed';

comment on index app.tasks_assignee_id_due_at_open_idx is 'Serves the tasks-assigned-to-me query.';

drop index concurrently if exists app.tasks_project_id_assignee_id_idx;

-- Not partial: it is also the one index the cascade from deleting a project can use (every other index led
-- by project_id leaves rows out).
-- squawk-ignore prefer-robust-stmts
create index concurrently tasks_project_id_assignee_id_idx on app.tasks (project_id, assignee_id);

comment on index app.tasks_project_id_assignee_id_idx is
'Serves the foreign keys to projects (deleting a project) and to project_members (clearing a leaver''s tasks).';

drop index concurrently if exists app.task_tags_task_id_idx;

-- squawk-ignore prefer-robust-stmts
create index concurrently task_tags_task_id_idx on app.task_tags (task_id);

comment on index app.task_tags_task_id_idx is 'Serves the foreign key to tasks (deleting a task removes its links).';

drop index concurrently if exists app.task_events_project_id_task_id_idx;

-- squawk-ignore prefer-robust-stmts
create index concurrently task_events_project_id_task_id_idx on app.task_events (project_id, task_id, id);

comment on index app.task_events_project_id_task_id_idx is
'Serves a task''s history (in order) and the foreign key to projects.';

drop index concurrently if exists app.task_events_actor_id_idx;

-- squawk-ignore prefer-robust-stmts
create index concurrently task_events_actor_id_idx on app.task_events (actor_id)
where actor_id is not null;

comment on index app.task_events_actor_id_idx is 'Serves the foreign key to users (clearing a deleted actor).';

drop index concurrently if exists app.tasks_archive_project_id_idx;

-- squawk-ignore prefer-robust-stmts
create index concurrently tasks_archive_project_id_idx on app.tasks_archive (project_id);

comment on index app.tasks_archive_project_id_idx is 'Serves the foreign key to projects.';
