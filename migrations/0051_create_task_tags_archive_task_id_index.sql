-- Create the index the archived links' key to their task looks rows up with, without blocking writes.
-- depends: 0050_validate_archive_keys
-- transactional: false
set lock_timeout = '5s';
set statement_timeout = '1h';

drop index concurrently if exists app.task_tags_archive_task_id_idx;

-- squawk-ignore prefer-robust-stmts
create index concurrently task_tags_archive_task_id_idx on app.task_tags_archive (task_id);

comment on index app.task_tags_archive_task_id_idx is
'Serves the foreign key to tasks_archive (deleting an archived task removes its links).';
