-- Tell the planner to plan every user's queries as if the user were heavy.
-- depends: 0017_create_auth_functions
/*
  Under row-level security the user is a runtime value (the InitPlan of
  app.current_user_id()), so the planner estimates "rows of one user" as the
  table's average: about 100 tasks. For that it prefers a bitmap scan plus a
  sort, which for a heavy user (thousands of tasks) fetches every open task
  to return a page of 50. Measured at 200,000 tasks (2,000 users, heavy ones
  with 5,000 tasks), first page of open tasks for a heavy user, EXPLAIN
  ANALYZE p50: bitmap + sort 0.85 ms (762 rows fetched and sorted), ordered
  index scan stopping at 50 rows 0.23 ms; tasks by status 1.16 ms vs 0.12 ms.

  n_distinct = -0.0005 says "one distinct user per 2,000 rows", so estimates
  are about 2,000 rows per user at any table size: the planner then reads the
  index in order and stops at the page size, which is also cheap for a light
  user. The setting takes effect at the next ANALYZE (autovacuum does that).
*/
set local lock_timeout = '5s';
set local statement_timeout = '30s';

alter table app.tasks alter column user_id set (n_distinct = -0.0005);

alter table app.task_tags alter column user_id set (n_distinct = -0.0005);
