-- Create the project role type: what a member may do in a project.
-- depends: 0029_drop_free_text_statistics
/*
  A domain over text with a CHECK, like task_status (0007): text equality is
  leakproof, so `role <> 'viewer'` may narrow an index scan under
  row-level security. A value outside the list fails with check_violation
  (23514), constraint `project_role_check`.
*/
set local lock_timeout = '5s';
set local statement_timeout = '30s';

create domain app.project_role as text
-- squawk-ignore ban-create-domain-with-constraint
constraint project_role_check check (value in ('owner', 'editor', 'viewer'));

comment on domain app.project_role is
'What a member may do in a project: owner (everything), editor (write its tasks) or viewer (read).';
comment on constraint project_role_check on domain app.project_role is 'One of owner, editor, viewer.';
