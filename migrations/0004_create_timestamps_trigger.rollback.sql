-- Drop the shared timestamps trigger function.
-- squawk-ignore-file ban-drop-function
-- (A rollback exists to drop what its migration created.)
set local lock_timeout = '5s';
set local statement_timeout = '30s';

drop function app_private.tg__timestamps();
