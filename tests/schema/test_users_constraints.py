"""app.users: every rule refused with its SQLSTATE and constraint name, and
paired with the boundary that must pass."""

from __future__ import annotations

import pytest

from tests.support import BCRYPT_HASH, acting_as, new_user, refused

ARGON2_HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$" + "h" * 43


def test_users_get_generated_ids_and_defaults(superuser_migrated):
    user_id = new_user(superuser_migrated, "ann@example.com")
    row = superuser_migrated.execute(
        "select is_active, theme, last_login_at, created_at = updated_at from app.users where id = %s", [user_id]
    ).fetchone()
    assert row == (True, "system", None, True)


@pytest.mark.parametrize("email", ["ann@example.com", "a@b.co", "ann.o'neil+todo@mail.example.org"])
def test_users_email_format_check_accepts_plausible_addresses(superuser_migrated, email):
    new_user(superuser_migrated, email)


@pytest.mark.parametrize(
    "email", ["ann", "ann@example", "@example.com", "ann@@example.com", "ann smith@example.com", "ann@example..com"]
)
def test_users_email_format_check_refuses_implausible_addresses(superuser_migrated, email):
    with refused(superuser_migrated, "23514", "users_email_format_check"):
        new_user(superuser_migrated, email)


def test_users_email_length_check_accepts_254_and_refuses_255_chars(superuser_migrated):
    domain = "@example.com"
    new_user(superuser_migrated, "a" * (254 - len(domain)) + domain)
    with refused(superuser_migrated, "23514", "users_email_length_check"):
        new_user(superuser_migrated, "b" * (255 - len(domain)) + domain)


def test_users_email_key_is_case_insensitive(superuser_migrated):
    new_user(superuser_migrated, "Ann@Example.com")
    with refused(superuser_migrated, "23505", "users_email_key"):
        new_user(superuser_migrated, "ann@EXAMPLE.COM")
    new_user(superuser_migrated, "ann2@example.com")  # the boundary: another address is fine
    found = superuser_migrated.execute("select count(*) from app.users where email = 'ANN@example.COM'").fetchone()
    assert found == (1,)


def test_users_email_is_required(superuser_migrated):
    with refused(superuser_migrated, "23502"):
        superuser_migrated.execute("insert into app.users (email, password_hash) values (null, %s)", [BCRYPT_HASH])


def test_users_name_length_check_accepts_255_and_refuses_256_chars(superuser_migrated):
    new_user(superuser_migrated, name="n" * 255)
    new_user(superuser_migrated, name=None)
    with refused(superuser_migrated, "23514", "users_name_length_check"):
        new_user(superuser_migrated, name="n" * 256)


@pytest.mark.parametrize("password_hash", [BCRYPT_HASH, BCRYPT_HASH.replace("$2b$", "$2a$"), ARGON2_HASH])
def test_users_password_hash_checks_accept_bcrypt_and_argon2(superuser_migrated, password_hash):
    new_user(superuser_migrated, password_hash=password_hash)


def test_users_password_hash_format_check_refuses_plaintext(superuser_migrated):
    with refused(superuser_migrated, "23514", "users_password_hash_format_check"):
        new_user(superuser_migrated, password_hash="correct horse battery staple " * 3)


def test_users_password_hash_length_check_refuses_59_chars(superuser_migrated):
    with refused(superuser_migrated, "23514", "users_password_hash_length_check"):
        new_user(superuser_migrated, password_hash=BCRYPT_HASH[:59])


@pytest.mark.parametrize("theme", ["light", "dark", "system"])
def test_user_theme_check_accepts_the_three_themes(superuser_migrated, theme):
    new_user(superuser_migrated, theme=theme)


def test_user_theme_check_refuses_other_values(superuser_migrated):
    with refused(superuser_migrated, "23514", "user_theme_check"):
        new_user(superuser_migrated, theme="Dark")


def test_users_password_hash_max_length_check_refuses_256_chars_and_takes_255(superuser_migrated):
    longest = BCRYPT_HASH + "x" * (255 - len(BCRYPT_HASH))
    new_user(superuser_migrated, password_hash=longest)  # the boundary that must pass
    with refused(superuser_migrated, "23514", "users_password_hash_max_length_check"):
        new_user(superuser_migrated, password_hash=longest + "x")


def test_sign_up_refuses_a_password_hash_of_20_mb_by_the_named_check(superuser_migrated):
    with acting_as(superuser_migrated, "todo_app", None) as conn:
        with refused(conn, "23514", "users_password_hash_max_length_check"):
            conn.execute("select app.sign_up('big@example.com', null, %s)", [BCRYPT_HASH + "x" * 20_000_000])
        assert conn.execute(
            "select app.sign_up('fits@example.com', null, %s) is not null", [BCRYPT_HASH]
        ).fetchone() == (True,)
