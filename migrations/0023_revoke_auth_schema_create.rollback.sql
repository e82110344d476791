-- Lend todo_auth CREATE on schema app, and an ordinary owner todo_migrator, again, as 0016a left them.
set local lock_timeout = '5s';
set local statement_timeout = '30s';

grant create on schema app to todo_auth;

do $$
begin
  if not (select r.rolsuper from pg_catalog.pg_roles as r where r.rolname = current_user)
    and pg_catalog.to_regrole('todo_migrator') is not null
    then
    execute pg_catalog.format('grant todo_migrator to %I', current_user);
  end if;
end
$$;
