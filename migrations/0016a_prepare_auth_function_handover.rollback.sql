-- Take back the schema privilege 0016a granted.
/*
  todo_migrator and its memberships are cluster-wide and stay: the owner may
  migrate other databases of the cluster through them.
*/
set local lock_timeout = '5s';
set local statement_timeout = '30s';

revoke create on schema app from todo_auth;
