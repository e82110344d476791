-- Give todo_auth CREATE on schema app again, as 0016a left it.
/*
  The owner's membership in todo_migrator is not lent again: rolling back
  further reaches 0017, whose rollback takes todo_auth for itself, and
  migrating forward again passes 0016a, which lends it anew.
*/
set local lock_timeout = '5s';
set local statement_timeout = '30s';

grant create on schema app to todo_auth;
