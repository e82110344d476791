"""app.users: every rule refused with its SQLSTATE and constraint name, and
paired with the boundary that must pass."""

from __future__ import annotations

import pytest

from tests.support import BCRYPT_HASH, acting_as, new_user, refused

ARGON2_HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$" + "h" * 43


def test_users_get_generated_ids_and_defaults(postgresql):
    user_id = new_user(postgresql, "ann@example.com")
    row = postgresql.execute(
        "select is_active, theme, last_login_at, created_at = updated_at from app.users where id = %s", [user_id]
    ).fetchone()
    assert row == (True, "system", None, True)


@pytest.mark.parametrize("email", ["ann@example.com", "a@b.co", "ann.o'neil+todo@mail.example.org"])
def test_users_email_format_check_accepts_plausible_addresses(postgresql, email):
    new_user(postgresql, email)


@pytest.mark.parametrize(
    "email", ["ann", "ann@example", "@example.com", "ann@@example.com", "ann smith@example.com", "ann@example..com"]
)
def test_users_email_format_check_refuses_implausible_addresses(postgresql, email):
    with refused(postgresql, "23514", "users_email_format_check"):
        new_user(postgresql, email)


def test_users_email_length_check_accepts_254_and_refuses_255_chars(postgresql):
    domain = "@example.com"
    new_user(postgresql, "a" * (254 - len(domain)) + domain)
    with refused(postgresql, "23514", "users_email_length_check"):
        new_user(postgresql, "b" * (255 - len(domain)) + domain)


def test_users_email_key_is_case_insensitive(postgresql):
    new_user(postgresql, "Ann@Example.com")
    with refused(postgresql, "23505", "users_email_key"):
        new_user(postgresql, "ann@EXAMPLE.COM")
    new_user(postgresql, "ann2@example.com")  # the boundary: another address is fine
    found = postgresql.execute("select count(*) from app.users where email = 'ANN@example.COM'").fetchone()
    assert found == (1,)


def test_users_email_is_required(postgresql):
    with refused(postgresql, "23502"):
        postgresql.execute("insert into app.users (email, password_hash) values (null, %s)", [BCRYPT_HASH])


def test_users_name_length_check_accepts_255_and_refuses_256_chars(postgresql):
    new_user(postgresql, name="n" * 255)
    new_user(postgresql, name=None)
    with refused(postgresql, "23514", "users_name_length_check"):
        new_user(postgresql, name="n" * 256)


@pytest.mark.parametrize("password_hash", [BCRYPT_HASH, BCRYPT_HASH.replace("$2b$", "$2a$"), ARGON2_HASH])
def test_users_password_hash_checks_accept_bcrypt_and_argon2(postgresql, password_hash):
    new_user(postgresql, password_hash=password_hash)


def test_users_password_hash_format_check_refuses_plaintext(postgresql):
    with refused(postgresql, "23514", "users_password_hash_format_check"):
        new_user(postgresql, password_hash="correct horse battery staple " * 3)


def test_users_password_hash_length_check_refuses_59_chars(postgresql):
    with refused(postgresql, "23514", "users_password_hash_length_check"):
        new_user(postgresql, password_hash=BCRYPT_HASH[:59])


@pytest.mark.parametrize("theme", ["light", "dark", "system"])
def test_user_theme_check_accepts_the_three_themes(postgresql, theme):
    new_user(postgresql, theme=theme)


def test_user_theme_check_refuses_other_values(postgresql):
    with refused(postgresql, "23514", "user_theme_check"):
        new_user(postgresql, theme="Dark")


def test_users_password_hash_max_length_check_refuses_256_chars_and_takes_255(postgresql):
    longest = BCRYPT_HASH + "x" * (255 - len(BCRYPT_HASH))
    new_user(postgresql, password_hash=longest)  # the boundary that must pass
    with refused(postgresql, "23514", "users_password_hash_max_length_check"):
        new_user(postgresql, password_hash=longest + "x")


def test_sign_up_refuses_a_password_hash_of_20_mb_by_the_named_check(postgresql):
    with acting_as(postgresql, "todo_app", None) as conn:
        with refused(conn, "23514", "users_password_hash_max_length_check"):
            conn.execute("select app.sign_up('big@example.com', null, %s)", [BCRYPT_HASH + "x" * 20_000_000])
        assert conn.execute(
            "select app.sign_up('fits@example.com', null, %s) is not null", [BCRYPT_HASH]
        ).fetchone() == (True,)
