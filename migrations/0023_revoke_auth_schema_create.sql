-- End what 0016a lent for 0017's handover: todo_auth's CREATE on schema app, and the owner's hold on todo_auth.
-- depends: 0022_create_tasks_maintenance_indexes 0016a_prepare_auth_function_handover
/*
  PostgreSQL checks the new owner's CREATE privilege only while ownership
  changes hands (0017); the functions keep working without it, and a role
  that owns SECURITY DEFINER code should not be able to add objects to the
  app's schema.

  An owner that is not a superuser leaves todo_migrator: roles are
  cluster-wide, so a standing membership would carry todo_auth's rights
  (and the `_auth` policies: every user's password hash) into every tododb
  database of the cluster. Migrations that need todo_auth later take it for
  their own transaction.
*/
set local lock_timeout = '5s';
set local statement_timeout = '30s';

revoke create on schema app from todo_auth;

do $$
begin
  if exists (
    select from pg_catalog.pg_auth_members as m
    inner join pg_catalog.pg_roles as r on r.oid = m.roleid
    inner join pg_catalog.pg_roles as me on me.oid = m.member
    where r.rolname = 'todo_migrator' and me.rolname = current_user
  ) then
    execute pg_catalog.format('revoke todo_migrator from %I', current_user);
  end if;
end
$$;
