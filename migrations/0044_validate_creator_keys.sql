-- Validate the creator foreign keys that now SET NULL (reads and writes go on meanwhile).
-- depends: 0043_require_project_ids
set local lock_timeout = '5s';
set local statement_timeout = '1h';

alter table app.tasks validate constraint tasks_user_id_fkey;

alter table app.task_events validate constraint task_events_user_id_fkey;
