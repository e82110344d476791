-- A project's members see its archived tasks, as they saw them before the archive job moved them.
-- depends: 0045_create_project_owner_check
/*
  tasks_archive kept 0021's policy, the creator's rows only: once archived, a
  shared task vanished for every other member. It now follows tasks
  (0043). Tasks archived before sharing have no project_id (0036 added the
  column after them): they were their creator's inbox tasks, and stay
  their creator's (the `project_id is null` arm). The tag links stay the
  tagger's (task_tags_archive, like task_tags).
*/
set local lock_timeout = '5s';
set local statement_timeout = '30s';

drop policy tasks_archive_select_own on app.tasks_archive;

create policy tasks_archive_select_member on app.tasks_archive for select
using (
  project_id in (
    select m.project_id from app.project_members as m
    where m.user_id = (select app.current_user_id())
  )
  or (project_id is null and user_id = (select app.current_user_id()))
);

comment on policy tasks_archive_select_member on app.tasks_archive is
'A member sees the project''s archived tasks; one archived before sharing, its creator.';

comment on column app.tasks_archive.project_id is
'The project the task was in; null for tasks archived before sharing (their creator''s).';
