"""app.tasks: every rule refused with its SQLSTATE and constraint name, and
paired with the boundary that must pass."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from tests.support import new_task, new_user, refused


@pytest.fixture
def owner(superuser_migrated):
    return new_user(superuser_migrated)


def test_tasks_get_generated_ids_and_defaults(superuser_migrated, owner):
    task_id = new_task(superuser_migrated, owner)
    row = superuser_migrated.execute(
        "select status, priority, completed_at, deleted_at, due_at from app.tasks where id = %s", [task_id]
    ).fetchone()
    assert row == ("pending", "medium", None, None, None)


def test_tasks_title_length_check_accepts_1_and_255_chars(superuser_migrated, owner):
    new_task(superuser_migrated, owner, "x")
    new_task(superuser_migrated, owner, "x" * 255)
    new_task(superuser_migrated, owner, "é" * 255)  # characters, not bytes


def test_tasks_title_length_check_refuses_empty_and_256_chars(superuser_migrated, owner):
    with refused(superuser_migrated, "23514", "tasks_title_length_check"):
        new_task(superuser_migrated, owner, "")
    with refused(superuser_migrated, "23514", "tasks_title_length_check"):
        new_task(superuser_migrated, owner, "x" * 256)


@pytest.mark.parametrize(
    "title",
    [
        " ",
        "   ",
        "\u00a0",  # no-break space
        "\u200b",  # zero-width space
        "\u200b\u200c\u200d\u2060",  # zero-width (non-)joiners, word joiner
        "\ufeff",  # byte-order mark
        "\u3000",  # ideographic space
        "\u3164",  # Hangul filler
        "\u2800",  # braille blank
        "\u00ad",  # soft hyphen
        "\U000e0041\U000e007f",  # tag characters
        "\ufe0f",  # variation selector
        " \u2028 \u202f ",  # line separator, narrow no-break space
    ],
)
def test_tasks_title_not_blank_check_refuses_whitespace_and_invisible_characters(superuser_migrated, owner, title):
    with refused(superuser_migrated, "23514", "tasks_title_not_blank_check"):
        new_task(superuser_migrated, owner, title)


@pytest.mark.parametrize("title", ["a", " a ", "\u200ba", "🙂", "買い物", "\u3164x", "a\u00a0b", "ö"])
def test_tasks_title_not_blank_check_accepts_one_visible_character(superuser_migrated, owner, title):
    new_task(superuser_migrated, owner, title)


@pytest.mark.parametrize("title", ["a\tb", "line\nbreak", "carriage\rreturn", "bell\x07", "del\x7f", "c1\x9b"])
def test_tasks_title_control_characters_check_refuses_control_characters(superuser_migrated, owner, title):
    with refused(superuser_migrated, "23514", "tasks_title_control_characters_check"):
        new_task(superuser_migrated, owner, title)


def test_tasks_description_length_check_accepts_10000_and_refuses_10001_chars(superuser_migrated, owner):
    new_task(superuser_migrated, owner, description="d" * 10_000)
    new_task(superuser_migrated, owner, description="line one\nline two\ttabbed")  # free text, unlike the title
    with refused(superuser_migrated, "23514", "tasks_description_length_check"):
        new_task(superuser_migrated, owner, description="d" * 10_001)


@pytest.mark.parametrize("hours", [Decimal("0.25"), Decimal("0.01"), Decimal("9999.99")])
def test_tasks_estimated_hours_positive_check_accepts_positive_hours(superuser_migrated, owner, hours):
    task_id = new_task(superuser_migrated, owner, estimated_hours=hours)
    stored = superuser_migrated.execute("select estimated_hours from app.tasks where id = %s", [task_id]).fetchone()
    assert stored == (hours,)


@pytest.mark.parametrize("hours", [Decimal("0"), Decimal("-1"), Decimal("NaN")])
def test_tasks_estimated_hours_positive_check_refuses_zero_negative_and_nan(superuser_migrated, owner, hours):
    with refused(superuser_migrated, "23514", "tasks_estimated_hours_positive_check"):
        new_task(superuser_migrated, owner, estimated_hours=hours)


@pytest.mark.parametrize("hours", [Decimal("10000"), Decimal("Infinity")])
def test_tasks_estimated_hours_out_of_range_is_malformed_data(superuser_migrated, owner, hours):
    with refused(superuser_migrated, "22003"):  # numeric_value_out_of_range: numeric(6, 2)
        new_task(superuser_migrated, owner, estimated_hours=hours)


@pytest.mark.parametrize("status", ["pending", "in_progress", "completed"])
def test_task_status_check_accepts_the_three_statuses(superuser_migrated, owner, status):
    new_task(superuser_migrated, owner, status=status)


@pytest.mark.parametrize("status", ["done", "Pending", ""])
def test_task_status_check_refuses_other_values(superuser_migrated, owner, status):
    with refused(superuser_migrated, "23514", "task_status_check"):
        new_task(superuser_migrated, owner, status=status)


@pytest.mark.parametrize("priority", ["low", "medium", "high"])
def test_task_priority_check_accepts_the_three_priorities(superuser_migrated, owner, priority):
    new_task(superuser_migrated, owner, priority=priority)


def test_task_priority_check_refuses_other_values(superuser_migrated, owner):
    with refused(superuser_migrated, "23514", "task_priority_check"):
        new_task(superuser_migrated, owner, priority="urgent")


def test_tasks_status_is_required(superuser_migrated, owner):
    with refused(superuser_migrated, "23502"):
        new_task(superuser_migrated, owner, status=None)


def test_tasks_completed_at_status_check_refuses_completed_at_on_an_open_task(superuser_migrated, owner):
    with refused(superuser_migrated, "23514", "tasks_completed_at_status_check"):
        new_task(
            superuser_migrated,
            owner,
            status="pending",
            completed_at="2026-01-01T00:00:00Z",
            created_at="2025-12-31T00:00:00Z",
        )
    task_id = new_task(superuser_migrated, owner)
    with refused(superuser_migrated, "23514", "tasks_completed_at_status_check"):
        superuser_migrated.execute("update app.tasks set completed_at = now() where id = %s", [task_id])


def test_tasks_completed_at_status_check_refuses_clearing_completed_at_of_a_completed_task(superuser_migrated, owner):
    task_id = new_task(superuser_migrated, owner, status="completed")
    with refused(superuser_migrated, "23514", "tasks_completed_at_status_check"):
        superuser_migrated.execute("update app.tasks set completed_at = null where id = %s", [task_id])


def test_tasks_completed_at_after_created_at_check(superuser_migrated, owner):
    created = "2026-03-01T12:00:00Z"
    new_task(
        superuser_migrated, owner, status="completed", created_at=created, completed_at=created
    )  # same instant: fine
    with refused(superuser_migrated, "23514", "tasks_completed_at_after_created_at_check"):
        new_task(superuser_migrated, owner, status="completed", created_at=created, completed_at="2026-03-01T11:59:59Z")


def test_tasks_user_id_fkey_refuses_an_unknown_user(superuser_migrated, owner):
    # In the owner's inbox (an inbox's id is its owner's id), so only the creator's key can fail.
    with refused(superuser_migrated, "23503", "tasks_user_id_fkey"):
        new_task(superuser_migrated, uuid.uuid4(), project_id=owner)
    new_task(superuser_migrated, owner, project_id=owner)


def test_a_task_needs_a_project_and_without_one_goes_to_its_creators_inbox(superuser_migrated, owner):
    with refused(superuser_migrated, "23503", "tasks_project_id_fkey"):
        new_task(superuser_migrated, owner, project_id=uuid.uuid4())
    with refused(superuser_migrated, "23502"):  # no creator, no project: nothing to default the project from
        new_task(superuser_migrated, None)
    task = new_task(superuser_migrated, owner)
    assert superuser_migrated.execute("select project_id from app.tasks where id = %s", [task]).fetchone() == (owner,)
