-- Drop the users table and its theme type.
-- squawk-ignore-file ban-drop-table, ban-drop-domain
-- (A rollback exists to drop what its migration created.)
set local lock_timeout = '5s';
set local statement_timeout = '30s';

drop table app.users;

drop domain app.user_theme;
