-- Require a project on every task and history row, first as NOT VALID checks (no scan, no long lock).
-- depends: 0040_backfill_projects
/*
  The contract step, in three migrations so that no statement holds
  ACCESS EXCLUSIVE on a big table while it reads it: these checks hold for
  every new or changed row at once; 0042 validates them, and the foreign
  keys of 0036-0037, under SHARE UPDATE EXCLUSIVE (reads and writes go on);
  0043 sets NOT NULL, which PostgreSQL proves from the validated check
  without scanning, and drops the checks.
*/
set local lock_timeout = '5s';
set local statement_timeout = '30s';

alter table app.tasks
add constraint tasks_project_id_not_null_check check (project_id is not null) not valid;

alter table app.task_events
add constraint task_events_project_id_not_null_check check (project_id is not null) not valid;
