-- Create app.current_user_id(), the one reader of the end user's identity.
-- depends: 0002_create_roles
/*
  The app says who the end user is at the start of every transaction:
  `select set_config('app.user_id', '<uuid>', true)` (transaction-scoped, so
  safe behind a transaction-pooling PgBouncer). Everything that needs the
  identity (policies, column defaults, the history trigger) reads it here:

  - unset or empty: null, "no user": every policy compares against null and
    matches nothing (fail closed);
  - not a canonical uuid: an error (22P02) with a hint, never a wider view.

  Policies call it as `(select app.current_user_id())`: the planner runs it
  once per statement as an InitPlan, not once per row, and the result can be
  an index condition.
*/
set local lock_timeout = '5s';
set local statement_timeout = '30s';

create function app.current_user_id() returns uuid
language plpgsql
stable
parallel safe
set search_path = ''
as $$
declare
  raw text := pg_catalog.current_setting('app.user_id', true);
begin
  if raw is null or raw = '' then
    return null;
  end if;
  if raw !~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' then
    raise exception 'app.user_id is not a user id: "%"', pg_catalog.left(raw, 40)
      using
        errcode = 'invalid_text_representation',
        hint = 'Set it per transaction with set_config(''app.user_id'', <uuid>, true), or leave it empty.';
  end if;
  return raw::uuid;
end;
$$;

comment on function app.current_user_id() is
'The end user of this transaction (setting app.user_id): null when unset or empty; an error when malformed.';

grant execute on function app.current_user_id() to todo_app, todo_readonly, todo_auth;
