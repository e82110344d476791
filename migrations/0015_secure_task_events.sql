-- Force row-level security on task_events: each user reads only their own history; nobody writes it directly.
-- depends: 0014_create_task_events
/*
  The app roles may only read. History is written by the tasks triggers
  (0016), a SECURITY DEFINER function running with the schema owner's
  rights; forced row-level security applies to the owner too, so the insert
  policy is what lets that function write, and only rows of the identity in
  force. There is no update or delete policy: with none, nothing qualifies.
*/
set local lock_timeout = '5s';
set local statement_timeout = '30s';

alter table app.task_events enable row level security;

alter table app.task_events force row level security;

create policy task_events_select_own on app.task_events for select
using (user_id = (select app.current_user_id()));

comment on policy task_events_select_own on app.task_events is 'A user reads only their own history.';

create policy task_events_insert_own on app.task_events for insert
with check (user_id = (select app.current_user_id()));

comment on policy task_events_insert_own on app.task_events is
'History rows written by the tasks triggers belong to the identity in force (no role but the owner may insert).';

grant select on app.task_events to todo_app, todo_readonly;
