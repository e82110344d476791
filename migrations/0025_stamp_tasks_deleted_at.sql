-- Stamp tasks.deleted_at with the server's clock: the app may move a task to the bin, not say when.
-- depends: 0024_pin_function_search_paths
/*
  The app may update deleted_at (soft delete sets it, restore clears it), so
  before this a client could write any time: back-dated, the task was purged
  at the next retention run; 'infinity', never. Now, for the app roles, a
  soft delete is stamped with the statement's start (not now(), the
  transaction's: a transaction held open would back-date it), a second
  soft delete keeps the first
  stamp, and a restore clears it. The table owner (retention tests, imports,
  repairs) keeps full control, like the history's maintenance switch (0014).
  Replacing the value rather than refusing keeps the app's queries as they
  are (`set deleted_at = now()` means "now").
*/
set local lock_timeout = '5s';
set local statement_timeout = '30s';

create function app_private.tg_tasks__stamp_deleted_at() returns trigger
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  if new.deleted_at is not distinct from old.deleted_at or new.deleted_at is null then
    return new;
  end if;
  if pg_catalog.pg_has_role(
    current_user, (select c.relowner from pg_catalog.pg_class as c where c.oid = tg_relid), 'USAGE'
  ) then
    return new;
  end if;
  new.deleted_at := coalesce(old.deleted_at, pg_catalog.statement_timestamp());
  return new;
end;
$$;

comment on function app_private.tg_tasks__stamp_deleted_at() is
'Trigger: but for the table owner, a soft delete is stamped with the statement''s time; a second keeps the first.';

create trigger _300_stamp_deleted_at
before update of deleted_at on app.tasks
for each row execute function app_private.tg_tasks__stamp_deleted_at();

comment on trigger _300_stamp_deleted_at on app.tasks is
'Stamps deleted_at with the server''s clock when the app moves a task to the bin.';
