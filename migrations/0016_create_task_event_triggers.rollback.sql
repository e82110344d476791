-- Stop recording task events.
-- squawk-ignore-file ban-drop-function
-- (A rollback exists to drop what its migration created.)
set local lock_timeout = '5s';
set local statement_timeout = '30s';

drop trigger _900_record_delete_events on app.tasks;

drop trigger _900_record_update_events on app.tasks;

drop trigger _900_record_insert_events on app.tasks;

drop function app_private.tg_tasks__record_events();
