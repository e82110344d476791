-- The app's tag queries. Tags are personal: row-level security keeps each user to their own tags and
-- links (task_tags.user_id is the tagger), while the tasks they tag may be shared.

-- name: list_tags()
-- The user's tags by name. Served by tags_user_id_id_key (then a sort of the user's few tags).
select
  g.id,
  g.name,
  g.created_at,
  g.version
from app.tags as g
order by g.name;

-- name: create_tag(name)<!
-- Creates a tag for the current user; a name the user already has (in any case)
-- fails with unique_violation (tags_user_id_name_key).
insert into app.tags (name)
values (:name::text)
returning id, name, created_at, version;

-- name: tag_task(task_id, tag_id)!
-- Puts one of the user's tags on a task they can see (in any of their projects); tagging twice is a
-- no-op. Another user's tag fails with foreign_key_violation (23503, task_tags_user_id_tag_id_fkey),
-- a task they cannot see with insufficient_privilege (42501). Nobody else sees the link.
insert into app.task_tags (task_id, tag_id)
values (:task_id::uuid, :tag_id::uuid)
on conflict do nothing;

-- name: untag_task(task_id, tag_id)!
-- Takes a tag off a task (task_tags_pkey).
delete from app.task_tags as tt
where tt.task_id = :task_id::uuid and tt.tag_id = :tag_id::uuid;

-- name: tasks_with_tag(tag_id, after_tagged_at, after_id, page_size)
-- Live tasks carrying one of the user's tags, most recently tagged first, task id as tie-breaker:
-- the user's own links (task_tags is keyed by the tagger) to tasks they can still see (a task in a
-- project they have left is skipped).
-- First page: after_tagged_at = 'infinity', after_id = 'ffffffff-ffff-ffff-ffff-ffffffffffff'.
-- Served by task_tags_user_id_tag_id_created_at_idx (the user's links in order), then tasks_pkey.
select
  t.id,
  t.title,
  t.status,
  t.priority,
  t.due_at,
  tt.created_at as tagged_at,
  t.created_at,
  t.updated_at,
  t.project_id,
  t.assignee_id,
  t.version
from app.task_tags as tt
inner join app.tasks as t on tt.task_id = t.id
where
  tt.user_id = app.current_user_id()
  and tt.tag_id = :tag_id::uuid
  and (tt.created_at, tt.task_id) < (:after_tagged_at::timestamptz, :after_id::uuid)
  and t.deleted_at is null
order by tt.created_at desc, tt.task_id desc
limit :page_size::integer;
