-- Backfill: give every existing user an inbox and move every task, and its history, into its creator's inbox.
-- depends: 0039_create_project_indexes
-- transactional: false
/*
  Done as on a live database: in batches of tododb.backfill_batch_size rows
  (default 5,000), one transaction each, so no batch holds its row locks,
  or the app waits behind them, for longer than that batch. Interrupted
  (killed, a lock timeout, the server restarting), the work committed so far
  stays, yoyo does not record the migration, and the next `migrate` picks up
  where it stopped: every step selects only what is still to do.

  The procedure runs with the migrating role's rights (a procedure that
  commits cannot be SECURITY DEFINER, nor carry a SET clause; hence the
  search_path set per transaction and every name qualified). As the schema
  owner under forced row-level security it sees the rows through the
  `_backfill` policies of 0038, which hold only in its own transactions.

  1. users without an inbox get one (an inbox's id is its owner's id);
  2. tasks without a project: project_id := user_id, in id order;
  3. history without a project: the same, in id order (the owner's history
     maintenance switch lets these updates through the append-only trigger).
*/
set lock_timeout = '5s';
set statement_timeout = 0;

create or replace procedure app_private.backfill_projects()
language plpgsql
as $$
declare
  batch_size constant integer := coalesce(
    nullif(pg_catalog.current_setting('tododb.backfill_batch_size', true), '')::integer, 5000
  );
  last_user pg_catalog.uuid := '00000000-0000-0000-0000-000000000000';
  last_task pg_catalog.uuid := '00000000-0000-0000-0000-000000000000';
  last_event pg_catalog.int8 := 0;
  ids pg_catalog.uuid[];
  event_ids pg_catalog.int8[];
begin
  loop
    perform pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    perform pg_catalog.set_config('lock_timeout', '5s', true);
    perform pg_catalog.set_config('tododb.backfill_projects', 'on', true);
    select pg_catalog.array_agg(u.id order by u.id) into ids
    from (
      select u.id from app.users as u where u.id > last_user order by u.id limit batch_size
    ) as u;
    exit when ids is null;
    -- No conflict target: one would need the SELECT right on projects, which forced row-level security
    -- checks against projects' select policies, and the owner sees no project without an identity (42501).
    -- The primary key is projects' only unique constraint, so this skips exactly the users who have an inbox.
    insert into app.projects (id, owner_id, name, is_inbox)
    select u.id, u.id, 'Inbox', true from pg_catalog.unnest(ids) as u (id)
    on conflict do nothing;
    last_user := ids[pg_catalog.cardinality(ids)];
    commit;
  end loop;

  loop
    perform pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    perform pg_catalog.set_config('lock_timeout', '5s', true);
    perform pg_catalog.set_config('tododb.backfill_projects', 'on', true);
    select pg_catalog.array_agg(t.id order by t.id) into ids
    from (
      select t.id from app.tasks as t
      where t.project_id is null and t.id > last_task
      order by t.id
      limit batch_size
    ) as t;
    exit when ids is null;
    update app.tasks as t set project_id = t.user_id
    where t.id = any(ids) and t.project_id is null;
    last_task := ids[pg_catalog.cardinality(ids)];
    commit;
  end loop;

  loop
    perform pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    perform pg_catalog.set_config('lock_timeout', '5s', true);
    perform pg_catalog.set_config('tododb.backfill_projects', 'on', true);
    perform pg_catalog.set_config('tododb.history_maintenance', 'on', true);
    select pg_catalog.array_agg(e.id order by e.id) into event_ids
    from (
      select e.id from app.task_events as e
      where e.project_id is null and e.id > last_event
      order by e.id
      limit batch_size
    ) as e;
    exit when event_ids is null;
    update app.task_events as e set project_id = e.user_id
    where e.id = any(event_ids) and e.project_id is null;
    last_event := event_ids[pg_catalog.cardinality(event_ids)];
    commit;
  end loop;
end;
$$;

-- The columns 0036-0037 added have no statistics yet: without them each batch's search for rows still
-- without a project walks every such row of the index instead of stopping at the batch.
analyze app.tasks (project_id);

analyze app.task_events (project_id);

-- statement_timeout stays 0 for the call: a CALL runs under the timeout of the statement that started it,
-- however long its batches together take; each batch's lock_timeout (5 s) still holds.
call app_private.backfill_projects();

-- The procedure is done with once the call has returned; a rerun after an interruption creates it again.
-- squawk-ignore ban-drop-function
drop procedure app_private.backfill_projects();
