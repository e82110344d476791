-- Drop the archive and purge indexes without blocking writes.
set lock_timeout = '5s';
set statement_timeout = '1h';

drop index concurrently if exists app.tasks_deleted_at_purge_idx;

drop index concurrently if exists app.tasks_completed_at_archive_idx;
