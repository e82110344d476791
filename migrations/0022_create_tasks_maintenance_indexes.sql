-- Create the indexes the archive and purge jobs find their batches with, without blocking writes.
-- depends: 0021_create_tasks_archive
-- transactional: false
/*
  Each batch takes the oldest candidates first. Without an index led by the
  cutoff column every batch would read the whole table; with these, a batch
  reads only the rows it moves. Both are partial: the archive index holds
  only live completed tasks, the purge index only tasks in the bin (a few
  per cent of the table), so the app's writes pay for them only there.
  Built concurrently on a table that holds data (the template in 0019).
*/
set lock_timeout = '5s';
-- A concurrent build on a big table may rightly take long; it does not block writes.
set statement_timeout = '1h';

drop index concurrently if exists app.tasks_completed_at_archive_idx;

-- The statement above clears a leftover of a failed build, so this one can be rerun.
-- squawk-ignore prefer-robust-stmts
create index concurrently tasks_completed_at_archive_idx on app.tasks (completed_at, id)
where status = 'completed' and deleted_at is null;

comment on index app.tasks_completed_at_archive_idx is 'Serves `tooling maintain archive` (oldest completed first).';

drop index concurrently if exists app.tasks_deleted_at_purge_idx;

-- squawk-ignore prefer-robust-stmts
create index concurrently tasks_deleted_at_purge_idx on app.tasks (deleted_at, id)
where deleted_at is not null;

comment on index app.tasks_deleted_at_purge_idx is 'Serves `tooling maintain purge` (longest in the bin first).';
