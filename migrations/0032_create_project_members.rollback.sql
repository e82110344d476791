-- Drop project memberships.
-- squawk-ignore-file ban-drop-table
-- (A rollback exists to undo what its migration did.)
set local lock_timeout = '5s';
set local statement_timeout = '30s';

drop table app.project_members;
