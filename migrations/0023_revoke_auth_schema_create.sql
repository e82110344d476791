-- Take back the CREATE on schema app that 0016a gave todo_auth for the handover of the sign-in functions.
-- depends: 0022_create_tasks_maintenance_indexes 0016a_prepare_auth_function_handover
/*
  PostgreSQL checks the new owner's CREATE privilege only while ownership
  changes hands (0017); the functions keep working without it, and a role
  that owns SECURITY DEFINER code should not be able to add objects to the
  app's schema.
*/
set local lock_timeout = '5s';
set local statement_timeout = '30s';

revoke create on schema app from todo_auth;
