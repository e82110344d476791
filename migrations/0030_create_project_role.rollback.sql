-- Drop the project role type.
-- squawk-ignore-file ban-drop-domain
-- (A rollback exists to undo what its migration did.)
set local lock_timeout = '5s';
set local statement_timeout = '30s';

drop domain app.project_role;
