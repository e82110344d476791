-- Leave the creator foreign keys unvalidated again, as after 0043.
-- squawk-ignore-file ban-drop-constraint
-- (PostgreSQL cannot mark a constraint unvalidated: it is dropped and added back NOT VALID.)
set local lock_timeout = '5s';
set local statement_timeout = '30s';

alter table app.task_events drop constraint task_events_user_id_fkey;

alter table app.task_events
add constraint task_events_user_id_fkey foreign key (user_id) references app.users (id) on delete set null not valid;

comment on constraint task_events_user_id_fkey on app.task_events is
'The task''s creator; deleting that user keeps the history (user_id NULL).';

alter table app.tasks drop constraint tasks_user_id_fkey;

alter table app.tasks
add constraint tasks_user_id_fkey foreign key (user_id) references app.users (id) on delete set null not valid;

comment on constraint tasks_user_id_fkey on app.tasks is
'The creator; deleting that user keeps the task (user_id NULL), unless it goes with a project they own.';
