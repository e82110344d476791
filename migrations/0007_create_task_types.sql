-- Create the task status and task priority types.
-- depends: 0006_secure_users
/*
  Domains over text with a CHECK, not enums, and this is measured, not taste:
  under row-level security the planner may put a qual into an index condition
  ahead of the policy only if its operator is leakproof. `texteq`/`textne`
  are leakproof; `enum_eq`/`enum_ne` are not (pg_proc.proleakproof), so with
  an enum, `status = 'pending'` would be applied as a filter after fetching
  every row the policy lets through, instead of narrowing the index scan.
  A value outside the list fails with check_violation (23514), constraint
  `task_status_check` / `task_priority_check`.
*/
set local lock_timeout = '5s';
set local statement_timeout = '30s';

-- Values can be added online later: `alter domain ... add constraint ... not valid`, then validate.
create domain app.task_status as text
-- squawk-ignore ban-create-domain-with-constraint
constraint task_status_check check (value in ('pending', 'in_progress', 'completed'));

comment on domain app.task_status is 'Where a task stands: pending, in_progress or completed.';
comment on constraint task_status_check on domain app.task_status is 'One of pending, in_progress, completed.';

create domain app.task_priority as text
-- squawk-ignore ban-create-domain-with-constraint
constraint task_priority_check check (value in ('low', 'medium', 'high'));

comment on domain app.task_priority is 'How urgent a task is: low, medium or high.';
comment on constraint task_priority_check on domain app.task_priority is 'One of low, medium, high.';
