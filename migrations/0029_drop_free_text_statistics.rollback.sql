-- Collect planner statistics on titles, descriptions and user names again (from the next ANALYZE).
set local lock_timeout = '5s';
set local statement_timeout = '30s';

-- `set statistics -1` (the default target) as dynamic SQL: the SQL linter cannot parse the negative target.
do $$
begin
  execute 'alter table app.users alter column name set statistics -1';
  execute 'alter table app.tasks_archive alter column title set statistics -1, alter column description set statistics -1';
  execute 'alter table app.tasks alter column title set statistics -1, alter column description set statistics -1';
end
$$;
