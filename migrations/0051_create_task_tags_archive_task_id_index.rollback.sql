-- Drop the archived links' task index.
set lock_timeout = '5s';
set statement_timeout = '1h';

drop index concurrently if exists app.task_tags_archive_task_id_idx;
