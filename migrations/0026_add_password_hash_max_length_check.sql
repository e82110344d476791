-- Refuse new password hashes longer than 255 characters (existing rows are checked by 0027).
-- depends: 0025_stamp_tasks_deleted_at
/*
  bcrypt hashes are 60 characters and argon2id's encoded form about 100; the
  column had only a lower bound, and a 20 MB value was accepted (every
  sign-in then reads it back). Added NOT VALID here (a brief lock, no scan)
  and validated in 0027, in a transaction of its own, under a lock that lets
  reads and writes go on.
*/
set local lock_timeout = '5s';
set local statement_timeout = '30s';

alter table app.users
add constraint users_password_hash_max_length_check check (char_length(password_hash) <= 255) not valid;

comment on constraint users_password_hash_max_length_check on app.users is
'At most 255 characters: a hash, never a blob.';
