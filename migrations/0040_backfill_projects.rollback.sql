-- Nothing to undo here: the inboxes and project ids it filled in go with the rollbacks of 0031-0037.
-- squawk-ignore-file ban-drop-function
-- (A rollback exists to undo what its migration did.)
set lock_timeout = '5s';
set statement_timeout = '30s';

drop procedure if exists app_private.backfill_projects();
