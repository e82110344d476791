-- Drop the per-project indexes.
set lock_timeout = '5s';
set statement_timeout = '1h';

drop index concurrently if exists app.tasks_archive_project_id_idx;
drop index concurrently if exists app.task_events_actor_id_idx;
drop index concurrently if exists app.task_events_project_id_task_id_idx;
drop index concurrently if exists app.task_tags_task_id_idx;
drop index concurrently if exists app.tasks_project_id_assignee_id_idx;
drop index concurrently if exists app.tasks_assignee_id_due_at_open_idx;
drop index concurrently if exists app.tasks_project_id_deleted_at_bin_idx;
drop index concurrently if exists app.tasks_project_id_status_created_at_live_idx;
drop index concurrently if exists app.tasks_project_id_undated_open_idx;
drop index concurrently if exists app.tasks_project_id_due_at_open_idx;
