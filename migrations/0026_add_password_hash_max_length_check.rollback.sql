-- Drop the upper bound on password hashes.
-- squawk-ignore-file ban-drop-constraint
-- (A rollback exists to drop what its migration created.)
set local lock_timeout = '5s';
set local statement_timeout = '30s';

alter table app.users drop constraint users_password_hash_max_length_check;
