"""app.tags: name rules and per-user case-insensitive uniqueness."""

from __future__ import annotations

import pytest

from tests.support import new_tag, new_user, refused


@pytest.fixture
def owner(postgresql):
    return new_user(postgresql)


def test_tags_name_length_check_accepts_1_and_50_chars(postgresql, owner):
    new_tag(postgresql, owner, "x")
    new_tag(postgresql, owner, "y" * 50)


def test_tags_name_length_check_refuses_empty_and_51_chars(postgresql, owner):
    with refused(postgresql, "23514", "tags_name_length_check"):
        new_tag(postgresql, owner, "")
    with refused(postgresql, "23514", "tags_name_length_check"):
        new_tag(postgresql, owner, "y" * 51)


@pytest.mark.parametrize("name", [" ", "\u200b", "\u00a0\u3000"])
def test_tags_name_not_blank_check_refuses_invisible_names(postgresql, owner, name):
    with refused(postgresql, "23514", "tags_name_not_blank_check"):
        new_tag(postgresql, owner, name)


def test_tags_name_control_characters_check_refuses_a_newline(postgresql, owner):
    with refused(postgresql, "23514", "tags_name_control_characters_check"):
        new_tag(postgresql, owner, "two\nlines")
    new_tag(postgresql, owner, "two words")


def test_tags_user_id_name_key_is_unique_per_user_case_insensitively(postgresql, owner):
    new_tag(postgresql, owner, "Home")
    with refused(postgresql, "23505", "tags_user_id_name_key"):
        new_tag(postgresql, owner, "HOME")
    other = new_user(postgresql)
    new_tag(postgresql, other, "home")  # the boundary: another user may use the same name


def test_tags_user_id_fkey_refuses_an_unknown_user(postgresql):
    import uuid

    with refused(postgresql, "23503", "tags_user_id_fkey"):
        new_tag(postgresql, uuid.uuid4())
