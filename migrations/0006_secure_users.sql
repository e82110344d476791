-- Force row-level security on users: each user sees and changes only their own row.
-- depends: 0005_create_users
/*
  No insert policy for the application: a user row is created only through
  app.sign_up() (0017), before any identity exists. The app may read its own
  row (never password_hash: not granted), change its own email, name, theme
  and password hash, and delete its own account (everything cascades).
  is_active and last_login_at are not the app's to write (last_login_at goes
  through app.record_login()).
*/
set local lock_timeout = '5s';
set local statement_timeout = '30s';

alter table app.users enable row level security;

alter table app.users force row level security;

create policy users_select_own on app.users for select
using (id = (select app.current_user_id()));

comment on policy users_select_own on app.users is 'A user sees only their own row.';

create policy users_update_own on app.users for update
using (id = (select app.current_user_id()))
with check (id = (select app.current_user_id()));

comment on policy users_update_own on app.users is 'A user changes only their own row, and it stays theirs.';

create policy users_delete_own on app.users for delete
using (id = (select app.current_user_id()));

comment on policy users_delete_own on app.users is 'A user deletes only their own account.';

grant select (id, email, name, is_active, theme, last_login_at, created_at, updated_at) on app.users
to todo_app, todo_readonly;

grant update (email, name, password_hash, theme) on app.users to todo_app;

grant delete on app.users to todo_app;
