-- Validate the project checks and the foreign keys that sharing added NOT VALID (reads and writes go on meanwhile).
-- depends: 0041_add_project_id_not_null_checks
/*
  VALIDATE CONSTRAINT reads the whole table under SHARE UPDATE EXCLUSIVE,
  which blocks neither the app's reads nor its writes (only other DDL).
*/
set local lock_timeout = '5s';
set local statement_timeout = '1h';

alter table app.tasks validate constraint tasks_project_id_not_null_check;

alter table app.task_events validate constraint task_events_project_id_not_null_check;

alter table app.tasks validate constraint tasks_project_id_fkey;

alter table app.tasks validate constraint tasks_assignee_membership_fkey;

alter table app.task_tags validate constraint task_tags_task_id_fkey;

alter table app.tasks_archive validate constraint tasks_archive_project_id_fkey;

alter table app.task_events validate constraint task_events_project_id_fkey;

alter table app.task_events validate constraint task_events_actor_id_fkey;
