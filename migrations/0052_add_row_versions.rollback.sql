-- Take the row versions off tasks, projects, project_members, tags and users again.
-- squawk-ignore-file ban-drop-column, ban-drop-function, ban-drop-view
-- (A rollback exists to undo what its migration did.)
set local lock_timeout = '5s';
set local statement_timeout = '30s';

-- A view cannot lose a column in place: made again as 0048 left it, todo_auth's, with its grants
-- (todo_auth's rights and CREATE on app are taken for this transaction only, as in 0034).
grant create on schema app to todo_auth;
grant todo_auth to current_user;

drop view app.project_member_profiles;

create view app.project_member_profiles with (security_barrier, security_invoker = true) as
select
  m.project_id,
  m.user_id,
  m.role,
  p.name,
  p.email,
  m.created_at as joined_at
from app.project_members as m
cross join lateral app_private.member_profile(m.user_id) as p
where m.project_id in (select app_private.current_user_project_ids());

comment on view app.project_member_profiles is
'The members of the identity''s projects: id, role, name and email only (never password hash or login times).';

alter view app.project_member_profiles owner to todo_auth;

grant select on app.project_member_profiles to todo_app, todo_readonly;

revoke todo_auth from current_user;
revoke create on schema app from todo_auth;

drop trigger _110_next_version on app.users;

alter table app.users drop column version;

drop trigger _110_next_version on app.tags;

alter table app.tags drop column version;

drop trigger _110_next_version on app.project_members;

alter table app.project_members drop column version;

drop trigger _110_next_version on app.projects;

alter table app.projects drop column version;

drop trigger _110_next_version on app.tasks;

alter table app.tasks drop column version;

drop function app_private.tg__next_version();
