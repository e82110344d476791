-- Take back what 0016a granted: the schema privilege, and the owner's membership in todo_migrator if it still holds it.
/*
  todo_migrator itself, and its membership in todo_auth, stay: they are
  cluster-wide, other databases' owners may pass through them, and neither
  gives anyone anything without a membership in todo_migrator.
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
    where r.rolname = 'todo_migrator' and me.rolname = current_user and m.grantor = me.oid
  ) then
    execute pg_catalog.format('revoke todo_migrator from %I', current_user);
  end if;
end
$$;
