-- Back to archived tasks seen by their creator only.
set local lock_timeout = '5s';
set local statement_timeout = '30s';

drop policy tasks_archive_select_member on app.tasks_archive;

create policy tasks_archive_select_own on app.tasks_archive for select
using (user_id = (select app.current_user_id()));

comment on policy tasks_archive_select_own on app.tasks_archive is 'A user sees only their own archived tasks.';

comment on column app.tasks_archive.project_id is 'The project the task was in.';
