"""app.task_tags: a link is the tagger's, with one of the tagger's own tags, on any task (shared tasks
included; which tasks a user may tag is the insert policy's business): enforced by keys, not only by policies."""

from __future__ import annotations

import uuid

import pytest

from tests.support import new_tag, new_task, new_user, refused

LINK = "insert into app.task_tags (user_id, task_id, tag_id) values (%s, %s, %s)"


@pytest.fixture
def two_users(superuser_migrated):
    ann, bob = new_user(superuser_migrated), new_user(superuser_migrated)
    return {
        "ann": ann,
        "ann_task": new_task(superuser_migrated, ann),
        "ann_tag": new_tag(superuser_migrated, ann),
        "bob": bob,
        "bob_task": new_task(superuser_migrated, bob),
        "bob_tag": new_tag(superuser_migrated, bob),
    }


def test_task_tags_links_a_task_and_a_tag_of_the_same_user(superuser_migrated, two_users):
    u = two_users
    superuser_migrated.execute(LINK, [u["ann"], u["ann_task"], u["ann_tag"]])
    with refused(superuser_migrated, "23505", "task_tags_pkey"):
        superuser_migrated.execute(LINK, [u["ann"], u["ann_task"], u["ann_tag"]])


def test_task_tags_user_id_tag_id_fkey_refuses_another_users_tag(superuser_migrated, two_users):
    u = two_users
    with refused(superuser_migrated, "23503", "task_tags_user_id_tag_id_fkey"):
        superuser_migrated.execute(LINK, [u["ann"], u["ann_task"], u["bob_tag"]])


def test_task_tags_task_id_fkey_refuses_an_unknown_task_and_accepts_someone_elses(superuser_migrated, two_users):
    u = two_users
    with refused(superuser_migrated, "23503", "task_tags_task_id_fkey"):
        superuser_migrated.execute(LINK, [u["bob"], uuid.uuid4(), u["bob_tag"]])
    # bob's tag on ann's task: the keys allow it (with sharing, a task need not be the tagger's).
    superuser_migrated.execute(LINK, [u["bob"], u["ann_task"], u["bob_tag"]])


def test_task_tags_cannot_be_moved_to_another_user(superuser_migrated, two_users):
    u = two_users
    superuser_migrated.execute(LINK, [u["ann"], u["ann_task"], u["ann_tag"]])
    with refused(superuser_migrated, "23503"):
        superuser_migrated.execute(
            "update app.task_tags set user_id = %s where task_id = %s", [u["bob"], u["ann_task"]]
        )
