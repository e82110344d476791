-- Let the planner estimate per-user row counts from the data again.
set local lock_timeout = '5s';
set local statement_timeout = '30s';

alter table app.task_tags alter column user_id reset (n_distinct);

alter table app.tasks alter column user_id reset (n_distinct);
