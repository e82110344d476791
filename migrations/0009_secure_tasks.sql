-- Force row-level security on tasks: each user sees and changes only their own tasks.
-- depends: 0008_create_tasks
/*
  user_id defaults to the identity, so the app may leave it out; if it
  passes one, the insert policy requires it to be the identity. Column
  grants keep id, user_id (after insert), completed_at, created_at and
  updated_at out of the app's reach: the database and its triggers own them.
*/
set local lock_timeout = '5s';
set local statement_timeout = '30s';

alter table app.tasks alter column user_id set default app.current_user_id();

alter table app.tasks enable row level security;

alter table app.tasks force row level security;

create policy tasks_select_own on app.tasks for select
using (user_id = (select app.current_user_id()));

comment on policy tasks_select_own on app.tasks is 'A user sees only their own tasks.';

create policy tasks_insert_own on app.tasks for insert
with check (user_id = (select app.current_user_id()));

comment on policy tasks_insert_own on app.tasks is 'A user creates tasks only for themselves.';

create policy tasks_update_own on app.tasks for update
using (user_id = (select app.current_user_id()))
with check (user_id = (select app.current_user_id()));

comment on policy tasks_update_own on app.tasks is 'A user changes only their own tasks, and they stay theirs.';

create policy tasks_delete_own on app.tasks for delete
using (user_id = (select app.current_user_id()));

comment on policy tasks_delete_own on app.tasks is 'A user deletes only their own tasks.';

grant select on app.tasks to todo_app, todo_readonly;

grant insert (user_id, title, description, status, priority, due_at, estimated_hours) on app.tasks to todo_app;

grant update (title, description, status, priority, due_at, estimated_hours, deleted_at) on app.tasks to todo_app;

grant delete on app.tasks to todo_app;
