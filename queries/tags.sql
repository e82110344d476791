-- The app's tag queries; row-level security keeps each user to their own tags and links.

-- name: list_tags()
-- The user's tags by name. Served by tags_user_id_id_key (then a sort of the user's few tags).
select
  g.id,
  g.name,
  g.created_at
from app.tags as g
order by g.name;

-- name: create_tag(name)<!
-- Creates a tag for the current user; a name the user already has (in any case)
-- fails with unique_violation (tags_user_id_name_key).
insert into app.tags (name)
values (:name::text)
returning id, name, created_at;

-- name: tag_task(task_id, tag_id)!
-- Puts a tag on a task; both must be the user's (composite keys), tagging twice is a no-op.
insert into app.task_tags (task_id, tag_id)
values (:task_id::uuid, :tag_id::uuid)
on conflict do nothing;

-- name: untag_task(task_id, tag_id)!
-- Takes a tag off a task (task_tags_pkey).
delete from app.task_tags as tt
where tt.task_id = :task_id::uuid and tt.tag_id = :tag_id::uuid;

-- name: tasks_with_tag(tag_id, after_tagged_at, after_id, page_size)
-- Live tasks carrying a tag, most recently tagged first, task id as tie-breaker.
-- First page: after_tagged_at = 'infinity', after_id = 'ffffffff-ffff-ffff-ffff-ffffffffffff'.
-- Served by task_tags_user_id_tag_id_created_at_idx (links in order), then tasks_user_id_id_key.
select
  t.id,
  t.title,
  t.status,
  t.priority,
  t.due_at,
  tt.created_at as tagged_at,
  t.created_at,
  t.updated_at
from app.task_tags as tt
inner join app.tasks as t on tt.task_id = t.id
where
  tt.tag_id = :tag_id::uuid
  and (tt.created_at, tt.task_id) < (:after_tagged_at::timestamptz, :after_id::uuid)
  and t.deleted_at is null
order by tt.created_at desc, tt.task_id desc
limit :page_size::integer;
