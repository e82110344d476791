-- Check every existing password hash against the 255-character bound.
-- depends: 0026_add_password_hash_max_length_check
/*
  VALIDATE CONSTRAINT takes SHARE UPDATE EXCLUSIVE: reads and writes go on
  while it scans. A row over the bound fails this migration (23514, naming
  users_password_hash_max_length_check) and leaves the constraint NOT VALID
  but enforced for new writes: fix the row, then migrate again.
*/
set local lock_timeout = '5s';
set local statement_timeout = '30s';

alter table app.users validate constraint users_password_hash_max_length_check;
