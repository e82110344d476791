"""app.tags: name rules and per-user case-insensitive uniqueness."""

from __future__ import annotations

import pytest

from tests.support import new_tag, new_user, refused


@pytest.fixture
def owner(superuser_migrated):
    return new_user(superuser_migrated)


def test_tags_name_length_check_accepts_1_and_50_chars(superuser_migrated, owner):
    new_tag(superuser_migrated, owner, "x")
    new_tag(superuser_migrated, owner, "y" * 50)


def test_tags_name_length_check_refuses_empty_and_51_chars(superuser_migrated, owner):
    with refused(superuser_migrated, "23514", "tags_name_length_check"):
        new_tag(superuser_migrated, owner, "")
    with refused(superuser_migrated, "23514", "tags_name_length_check"):
        new_tag(superuser_migrated, owner, "y" * 51)


@pytest.mark.parametrize("name", [" ", "\u200b", "\u00a0\u3000"])
def test_tags_name_not_blank_check_refuses_invisible_names(superuser_migrated, owner, name):
    with refused(superuser_migrated, "23514", "tags_name_not_blank_check"):
        new_tag(superuser_migrated, owner, name)


def test_tags_name_control_characters_check_refuses_a_newline(superuser_migrated, owner):
    with refused(superuser_migrated, "23514", "tags_name_control_characters_check"):
        new_tag(superuser_migrated, owner, "two\nlines")
    new_tag(superuser_migrated, owner, "two words")


def test_tags_user_id_name_key_is_unique_per_user_case_insensitively(superuser_migrated, owner):
    new_tag(superuser_migrated, owner, "Home")
    with refused(superuser_migrated, "23505", "tags_user_id_name_key"):
        new_tag(superuser_migrated, owner, "HOME")
    other = new_user(superuser_migrated)
    new_tag(superuser_migrated, other, "home")  # the boundary: another user may use the same name


def test_tags_user_id_fkey_refuses_an_unknown_user(superuser_migrated):
    import uuid

    with refused(superuser_migrated, "23503", "tags_user_id_fkey"):
        new_tag(superuser_migrated, uuid.uuid4())
