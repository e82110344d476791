-- Leave the archive's keys unvalidated again, as after 0049.
-- squawk-ignore-file ban-drop-constraint
-- (PostgreSQL cannot mark a constraint unvalidated: it is dropped and added back NOT VALID.)
set local lock_timeout = '5s';
set local statement_timeout = '30s';

alter table app.task_tags_archive drop constraint task_tags_archive_task_id_fkey;

alter table app.task_tags_archive
add constraint task_tags_archive_task_id_fkey foreign key (task_id)
references app.tasks_archive (id) on delete cascade not valid;

comment on constraint task_tags_archive_task_id_fkey on app.task_tags_archive is
'The archived task exists; deleting it removes its links.';

alter table app.tasks_archive drop constraint tasks_archive_user_id_fkey;

alter table app.tasks_archive
add constraint tasks_archive_user_id_fkey foreign key (user_id) references app.users (id) on delete set null not valid;

comment on constraint tasks_archive_user_id_fkey on app.tasks_archive is
'The creator; deleting that user keeps the archived task (user_id NULL), unless it goes with a project they own.';
