-- Signing up, signing in, and the signed-in user's profile.

-- name: sign_up(email, name, password_hash)$
-- Before any identity: creates the user and returns the id; a taken email
-- (in any case) fails with unique_violation (users_email_key).
select app.sign_up(:email::text, :name::text, :password_hash::text);

-- name: user_for_login(email)^
-- Before any identity: the id, password hash and is_active of that user, or nothing.
select
  u.id,
  u.password_hash,
  u.is_active
from app.user_for_login(:email::text) as u;

-- name: record_login(user_id)!
-- After the app has checked the password: stamps last_login_at.
select app.record_login(:user_id::uuid);

-- name: current_user_profile()^
-- The signed-in user's own row (never the password hash). Served by users_pkey.
select
  u.id,
  u.email,
  u.name,
  u.theme,
  u.is_active,
  u.last_login_at,
  u.created_at,
  u.version
from app.users as u;

-- name: set_theme(version, theme)<!
-- Changes the signed-in user's theme (light, dark or system); returns nothing when the profile is
-- no longer at the version the client read. Filters by the identity as well as the policy does,
-- so the planner can go straight to users_pkey. Version check: profile_version.
update app.users
set theme = :theme::text
where id = (select app.current_user_id()) and version = :version::integer
returning id, theme, updated_at, version;

-- name: profile_version()$
-- The version of the signed-in user's profile: how a set_theme that changed nothing tells a stale
-- version from a missing identity. Served by users_pkey.
select u.version
from app.users as u
where u.id = (select app.current_user_id());
