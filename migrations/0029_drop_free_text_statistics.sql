-- Keep no planner statistics on free text (task titles and descriptions, user names).
-- depends: 0028_make_retention_skip_locked
/*
  Text equality is leakproof, so under row-level security the planner still
  uses a column's most-common values and histogram to estimate
  `where title = $1`, and EXPLAIN shows the estimate: any user could learn
  whether other users' tasks are often called 'Call the lawyer' (measured:
  5,000 rows estimated for another user's common title, 1 for an unused
  one). With the statistics target at 0, ANALYZE collects nothing for these
  columns and every value gets the same default estimate. No query filters
  or sorts on them, so no plan depends on these statistics.

  ANALYZE then skips the columns but keeps what it collected before, so the
  old statistics are cleared here: with pg_clear_attribute_stats() on
  PostgreSQL 18 (the table owner may), or by deleting them from
  pg_statistic when a superuser migrates. An ordinary owner on 15 to 17
  cannot clear them; `make doctor` reports any that are left.
*/
set local lock_timeout = '5s';
set local statement_timeout = '30s';

alter table app.tasks
alter column title set statistics 0,
alter column description set statistics 0;

alter table app.tasks_archive
alter column title set statistics 0,
alter column description set statistics 0;

alter table app.users
alter column name set statistics 0;

do $$
declare
  target record;
begin
  for target in
    select c.oid as relid, c.relname, a.attname, a.attnum
    from pg_catalog.pg_attribute as a
    inner join pg_catalog.pg_class as c on c.oid = a.attrelid
    where
      c.relnamespace = 'app'::pg_catalog.regnamespace
      and (c.relname, a.attname) in (
        ('tasks', 'title'), ('tasks', 'description'), ('tasks_archive', 'title'),
        ('tasks_archive', 'description'), ('users', 'name')
      )
  loop
    if pg_catalog.to_regprocedure('pg_catalog.pg_clear_attribute_stats(text, text, text, boolean)') is not null then
      execute 'select pg_catalog.pg_clear_attribute_stats($1, $2, $3, false)'
      using 'app', target.relname::pg_catalog.text, target.attname::pg_catalog.text;
    elsif (select r.rolsuper from pg_catalog.pg_roles as r where r.rolname = current_user) then
      delete from pg_catalog.pg_statistic as s where s.starelid = target.relid and s.staattnum = target.attnum;
    end if;
  end loop;
end
$$;
