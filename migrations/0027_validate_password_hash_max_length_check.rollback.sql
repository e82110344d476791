-- Leave the password hash bound unvalidated again, as after 0026.
-- squawk-ignore-file ban-drop-constraint
-- (PostgreSQL cannot mark a constraint unvalidated: it is dropped and added back NOT VALID.)
set local lock_timeout = '5s';
set local statement_timeout = '30s';

alter table app.users drop constraint users_password_hash_max_length_check;

alter table app.users
add constraint users_password_hash_max_length_check check (char_length(password_hash) <= 255) not valid;

comment on constraint users_password_hash_max_length_check on app.users is
'At most 255 characters: a hash, never a blob.';
