-- Force row-level security on tags: each user sees and changes only their own tags.
-- depends: 0010_create_tags
set local lock_timeout = '5s';
set local statement_timeout = '30s';

alter table app.tags alter column user_id set default app.current_user_id();

alter table app.tags enable row level security;

alter table app.tags force row level security;

create policy tags_select_own on app.tags for select
using (user_id = (select app.current_user_id()));

comment on policy tags_select_own on app.tags is 'A user sees only their own tags.';

create policy tags_insert_own on app.tags for insert
with check (user_id = (select app.current_user_id()));

comment on policy tags_insert_own on app.tags is 'A user creates tags only for themselves.';

create policy tags_update_own on app.tags for update
using (user_id = (select app.current_user_id()))
with check (user_id = (select app.current_user_id()));

comment on policy tags_update_own on app.tags is 'A user renames only their own tags, and they stay theirs.';

create policy tags_delete_own on app.tags for delete
using (user_id = (select app.current_user_id()));

comment on policy tags_delete_own on app.tags is 'A user deletes only their own tags.';

grant select on app.tags to todo_app, todo_readonly;

grant insert (user_id, name) on app.tags to todo_app;

grant update (name) on app.tags to todo_app;

grant delete on app.tags to todo_app;
