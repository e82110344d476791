-- Validate the archive's creator and link keys of 0049 (reads and writes go on meanwhile).
-- depends: 0049_keep_archived_tasks_of_deleted_creators
set local lock_timeout = '5s';
set local statement_timeout = '1h';

alter table app.tasks_archive validate constraint tasks_archive_user_id_fkey;

alter table app.task_tags_archive validate constraint task_tags_archive_task_id_fkey;
