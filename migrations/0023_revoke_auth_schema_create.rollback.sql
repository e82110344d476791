-- Give todo_auth CREATE on schema app again, as 0016a left it.
set local lock_timeout = '5s';
set local statement_timeout = '30s';

grant create on schema app to todo_auth;
