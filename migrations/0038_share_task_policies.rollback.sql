-- Back to row-level security by user on tasks and their history.
-- squawk-ignore-file ban-drop-function
-- (A rollback exists to undo what its migration did.)
set local lock_timeout = '5s';
set local statement_timeout = '30s';

drop policy task_events_update_backfill on app.task_events;
drop policy task_events_select_backfill on app.task_events;
drop policy tasks_update_backfill on app.tasks;
drop policy tasks_select_backfill on app.tasks;
drop policy projects_insert_backfill on app.projects;
drop policy users_select_backfill on app.users;
drop function app_private.backfilling_projects();

drop policy task_tags_insert_visible_task on app.task_tags;

create policy task_tags_insert_own on app.task_tags for insert
with check (user_id = (select app.current_user_id()));

comment on policy task_tags_insert_own on app.task_tags is 'A user tags only their own tasks with their own tags.';

revoke insert (project_id, assignee_id), update (project_id, assignee_id) on app.tasks from todo_app;

drop policy tasks_select_member on app.tasks;
drop policy tasks_insert_editor on app.tasks;
drop policy tasks_update_editor on app.tasks;
drop policy tasks_delete_editor on app.tasks;
drop policy task_events_select_member on app.task_events;
drop policy task_events_insert_editor on app.task_events;

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

create policy task_events_select_own on app.task_events for select
using (user_id = (select app.current_user_id()));

comment on policy task_events_select_own on app.task_events is 'A user reads only their own history.';

create policy task_events_insert_own on app.task_events for insert
with check (user_id = (select app.current_user_id()));

comment on policy task_events_insert_own on app.task_events is
'History rows written by the tasks triggers belong to the identity in force (no role but the owner may insert).';
