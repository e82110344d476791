-- Leave sharing's checks and foreign keys unvalidated again, as after 0041.
-- squawk-ignore-file ban-drop-constraint
-- (PostgreSQL cannot mark a constraint unvalidated: it is dropped and added back NOT VALID.)
set local lock_timeout = '5s';
set local statement_timeout = '30s';

alter table app.task_events drop constraint task_events_actor_id_fkey;

alter table app.task_events
add constraint task_events_actor_id_fkey foreign key (actor_id) references app.users (id) on delete set null not valid;

comment on constraint task_events_actor_id_fkey on app.task_events is
'The actor; deleting that user keeps the history (actor_id NULL).';

alter table app.task_events drop constraint task_events_project_id_fkey;

alter table app.task_events
add constraint task_events_project_id_fkey foreign key (project_id)
references app.projects (id) on delete cascade not valid;

comment on constraint task_events_project_id_fkey on app.task_events is
'The project exists; deleting it deletes its history.';

alter table app.tasks_archive drop constraint tasks_archive_project_id_fkey;

alter table app.tasks_archive
add constraint tasks_archive_project_id_fkey foreign key (project_id)
references app.projects (id) on delete cascade not valid;

comment on constraint tasks_archive_project_id_fkey on app.tasks_archive is
'The project exists; deleting it deletes its archived tasks.';

alter table app.task_tags drop constraint task_tags_task_id_fkey;

alter table app.task_tags
add constraint task_tags_task_id_fkey foreign key (task_id) references app.tasks (id) on delete cascade not valid;

comment on constraint task_tags_task_id_fkey on app.task_tags is
'The task exists; deleting it removes its links.';

alter table app.tasks drop constraint tasks_assignee_membership_fkey;

alter table app.tasks
add constraint tasks_assignee_membership_fkey foreign key (project_id, assignee_id)
references app.project_members (project_id, user_id) on delete set null (assignee_id) not valid;

comment on constraint tasks_assignee_membership_fkey on app.tasks is
'The assignee is a member of the task''s project; leaving it clears the assignment.';

alter table app.tasks drop constraint tasks_project_id_fkey;

alter table app.tasks
add constraint tasks_project_id_fkey foreign key (project_id)
references app.projects (id) on delete cascade not valid;

comment on constraint tasks_project_id_fkey on app.tasks is
'The project exists; deleting it deletes its tasks.';

alter table app.task_events drop constraint task_events_project_id_not_null_check;

alter table app.task_events
add constraint task_events_project_id_not_null_check check (project_id is not null) not valid;

alter table app.tasks drop constraint tasks_project_id_not_null_check;

alter table app.tasks
add constraint tasks_project_id_not_null_check check (project_id is not null) not valid;
