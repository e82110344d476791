-- Create the sign-up and sign-in functions: the narrow path to users before an identity exists.
-- depends: 0016_create_task_event_triggers
/*
  Sign-up and sign-in happen before the app knows who the user is, so the
  users policies (identity-based) cannot serve them. Instead of a hole in
  those policies, three SECURITY DEFINER functions, executable by todo_app
  only, each doing one thing:

  - app.sign_up(email, name, password_hash) -> the new user's id. A taken
    email fails with unique_violation (23505, users_email_key); nothing else
    is revealed.
  - app.user_for_login(email) -> id, password_hash, is_active of that one
    user, or no row. The app verifies the password itself.
  - app.record_login(user_id) -> sets last_login_at.

  They are owned by todo_auth, the only role the `_auth` policies below apply
  to, with just the column privileges these three statements need. The
  schema owner makes itself a member only long enough to hand the functions
  over, so the `_auth` policies never apply to the owner.

  search_path is '' and every name is qualified. The email comparison names
  citext's operator explicitly (`operator(public.=)`): with an empty path,
  a bare `=` would resolve to case-sensitive text equality.
*/
set local lock_timeout = '5s';
set local statement_timeout = '30s';

create policy users_select_auth on app.users for select to todo_auth
using (true);

comment on policy users_select_auth on app.users is
'The sign-in functions (owned by todo_auth) look a user up by email before any identity exists.';

create policy users_insert_auth on app.users for insert to todo_auth
with check (true);

comment on policy users_insert_auth on app.users is 'app.sign_up() creates users.';

create policy users_update_auth on app.users for update to todo_auth
using (true)
with check (true);

comment on policy users_update_auth on app.users is 'app.record_login() sets last_login_at.';

grant select (id, email, password_hash, is_active) on app.users to todo_auth;

grant insert (email, name, password_hash) on app.users to todo_auth;

grant update (last_login_at) on app.users to todo_auth;

create function app.sign_up(email text, name text, password_hash text) returns uuid
language sql
volatile
security definer
set search_path = ''
as $$
  insert into app.users (email, name, password_hash)
  values ($1, $2, $3)
  returning id;
$$;

comment on function app.sign_up(text, text, text) is
'Creates a user and returns the id; a taken email fails with unique_violation (users_email_key).';

create function app.user_for_login(email text) returns table (id uuid, password_hash text, is_active boolean)
language sql
stable
security definer
set search_path = ''
as $$
  select u.id, u.password_hash, u.is_active
  from app.users as u
  where u.email operator(public.=) $1::public.citext;
$$;

comment on function app.user_for_login(text) is
'The id, password hash and is_active of the user with this email (case-insensitively), or no row.';

create function app.record_login(user_id uuid) returns void
language sql
volatile
security definer
set search_path = ''
as $$
  update app.users set last_login_at = pg_catalog.now() where id = $1;
$$;

comment on function app.record_login(uuid) is 'Sets last_login_at of that user to now.';

grant todo_auth to current_user;

alter function app.sign_up(text, text, text) owner to todo_auth;

alter function app.user_for_login(text) owner to todo_auth;

alter function app.record_login(uuid) owner to todo_auth;

revoke todo_auth from current_user;

revoke all on function app.sign_up(text, text, text) from public;

revoke all on function app.user_for_login(text) from public;

revoke all on function app.record_login(uuid) from public;

grant execute on function app.sign_up(text, text, text) to todo_app;

grant execute on function app.user_for_login(text) to todo_app;

grant execute on function app.record_login(uuid) to todo_app;
