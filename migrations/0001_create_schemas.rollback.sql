-- Drop the schemas and the citext extension created by 0001.
-- squawk-ignore-file ban-drop-schema, ban-drop-extension
-- (A rollback exists to drop what its migration created; none of it is used yet.)
set local lock_timeout = '5s';
set local statement_timeout = '30s';

drop schema app_private;

drop schema app;

-- Without cascade: if anything else still uses citext, the rollback stops here.
drop extension citext;
