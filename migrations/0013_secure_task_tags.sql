-- Force row-level security on task_tags: each user sees, adds and removes only their own links.
-- depends: 0012_create_task_tags
/*
  A link is added or removed, never changed: no update policy, no update
  grant. The policy keeps a user to their own links; the composite keys
  (0012) keep the task and the tag to the link's user.
*/
set local lock_timeout = '5s';
set local statement_timeout = '30s';

alter table app.task_tags alter column user_id set default app.current_user_id();

alter table app.task_tags enable row level security;

alter table app.task_tags force row level security;

create policy task_tags_select_own on app.task_tags for select
using (user_id = (select app.current_user_id()));

comment on policy task_tags_select_own on app.task_tags is 'A user sees only their own links.';

create policy task_tags_insert_own on app.task_tags for insert
with check (user_id = (select app.current_user_id()));

comment on policy task_tags_insert_own on app.task_tags is 'A user tags only their own tasks with their own tags.';

create policy task_tags_delete_own on app.task_tags for delete
using (user_id = (select app.current_user_id()));

comment on policy task_tags_delete_own on app.task_tags is 'A user removes only their own links.';

grant select on app.task_tags to todo_app, todo_readonly;

grant insert (user_id, task_id, tag_id) on app.task_tags to todo_app;

grant delete on app.task_tags to todo_app;
