-- Create the task_tags link table.
-- depends: 0011_secure_tags
/*
  Both foreign keys include user_id, so a task can only be linked to a tag of
  the same user: enforced by keys, whatever the policies say. Deleting the
  task or the tag deletes the link (and deleting the user, through either).
  The primary key (user_id, task_id, tag_id) serves the task's tags and the
  cascade from tasks; the (user_id, tag_id, created_at desc, task_id desc)
  index serves "tasks with a tag" in order and the cascade from tags.
*/
set local lock_timeout = '5s';
set local statement_timeout = '30s';

create table app.task_tags (
  user_id uuid not null,
  task_id uuid not null,
  tag_id uuid not null,
  created_at timestamptz not null default now(),
  constraint task_tags_pkey primary key (user_id, task_id, tag_id),
  constraint task_tags_user_id_task_id_fkey foreign key (user_id, task_id)
  references app.tasks (user_id, id) on delete cascade,
  constraint task_tags_user_id_tag_id_fkey foreign key (user_id, tag_id)
  references app.tags (user_id, id) on delete cascade
);

comment on table app.task_tags is 'Which tags are on which task; task and tag always belong to the same user.';
comment on column app.task_tags.user_id is 'The owner of both the task and the tag.';
comment on column app.task_tags.task_id is 'The tagged task (same owner, by key); deleting it deletes the link.';
comment on column app.task_tags.tag_id is 'The tag (same owner, by key); deleting it deletes the link.';
comment on column app.task_tags.created_at is 'When the tag was put on the task.';
comment on constraint task_tags_user_id_task_id_fkey on app.task_tags is
'The task exists and belongs to the link''s user.';
comment on constraint task_tags_user_id_tag_id_fkey on app.task_tags is
'The tag exists and belongs to the link''s user.';

-- Tasks with a tag, most recently tagged first (keyset), and the cascade when a tag is deleted.
create index task_tags_user_id_tag_id_created_at_idx on app.task_tags (user_id, tag_id, created_at desc, task_id desc);

comment on index app.task_tags_user_id_tag_id_created_at_idx is
'Serves the tasks-with-a-tag query and the foreign key to tags.';
