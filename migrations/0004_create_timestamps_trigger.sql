-- Create the shared trigger function that keeps created_at fixed and moves updated_at forward.
-- depends: 0003_create_current_user_id
/*
  Every table with created_at/updated_at gets a `_100_timestamps` trigger on
  this function (the number fixes the firing order among a table's triggers).

  - created_at can never change: an update that tries is refused (class 23,
    constraint `<table>_created_at_immutable`) rather than silently undone,
    so a bug that writes it is found, not hidden.
  - updated_at always moves forward, even twice in one transaction, where
    now() does not move: it steps one microsecond past its previous value.
  - On insert, an explicit created_at is kept (imports, the bulk generator);
    the app role is never granted that column.
*/
set local lock_timeout = '5s';
set local statement_timeout = '30s';

create function app_private.tg__timestamps() returns trigger
language plpgsql
volatile
set search_path = ''
as $$
begin
  if tg_op = 'INSERT' then
    new.updated_at := greatest(new.updated_at, new.created_at);
  elsif new.created_at is distinct from old.created_at then
    raise exception '%.created_at cannot be changed', tg_table_name
      using
        errcode = 'integrity_constraint_violation',
        constraint = tg_table_name || '_created_at_immutable',
        schema = tg_table_schema,
        table = tg_table_name,
        column = 'created_at';
  else
    new.updated_at := greatest(now(), old.updated_at + interval '1 microsecond');
  end if;
  return new;
end;
$$;

comment on function app_private.tg__timestamps() is
'Trigger: refuses changes to created_at; moves updated_at forward, by a microsecond if the clock has not.';
