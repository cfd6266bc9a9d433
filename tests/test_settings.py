"""Settings: one clear line naming the variable for every missing or contradictory setting."""

from __future__ import annotations

import pytest

from shared.runtime import settings
from shared.runtime.settings import SettingsError, from_env, read_dotenv

PEM = "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----"


def test_defaults():
    config = from_env({})
    assert (config.api_url, config.port, config.dry_run, config.webhook_secrets) == (
        "https://api.github.com",
        8080,
        False,
        (),
    )
    assert not config.has_github_credentials and not config.sends_to_github


@pytest.mark.parametrize(
    "env,variable",
    [
        ({"GITHUB_APP_ID": "abc", "GITHUB_PRIVATE_KEY": PEM}, "GITHUB_APP_ID"),
        ({"GITHUB_APP_ID": "1"}, "GITHUB_PRIVATE_KEY"),
        ({"GITHUB_PRIVATE_KEY": PEM}, "GITHUB_APP_ID"),
        ({"GITHUB_APP_ID": "1", "GITHUB_PRIVATE_KEY": PEM, "GITHUB_TOKEN": "t"}, "GITHUB_TOKEN"),
        (
            {"GITHUB_APP_ID": "1", "GITHUB_PRIVATE_KEY": PEM, "GITHUB_PRIVATE_KEY_PATH": "/k.pem"},
            "GITHUB_PRIVATE_KEY_PATH",
        ),
        ({"GITHUB_APP_ID": "1", "GITHUB_PRIVATE_KEY_PATH": "/nonexistent/key.pem"}, "GITHUB_PRIVATE_KEY_PATH"),
        ({"GITHUB_APP_ID": "1", "GITHUB_PRIVATE_KEY": "not a key"}, "GITHUB_PRIVATE_KEY"),
        ({"GITHUB_API_URL": "api.github.com"}, "GITHUB_API_URL"),
        ({"PORT": "http"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"PETREL_DRY_RUN": "maybe"}, "PETREL_DRY_RUN"),
        ({"K_SINK": "broker"}, "K_SINK"),
        ({"GITHUB_WEBHOOK_SECRET_PREVIOUS": "old"}, "GITHUB_WEBHOOK_SECRET"),
        ({"PETREL_WORKERS": "-1"}, "PETREL_WORKERS"),
    ],
)
def test_bad_settings_name_the_variable_in_one_line(env, variable):
    with pytest.raises(SettingsError) as error:
        from_env(env)
    assert variable in str(error.value) and "\n" not in str(error.value)


def test_missing_webhook_secret_is_named():
    with pytest.raises(SettingsError, match="GITHUB_WEBHOOK_SECRET is not set"):
        from_env({}).require_webhook_secret()


def test_private_key_from_a_file_and_escaped_newlines(tmp_path):
    path = tmp_path / "app.pem"
    path.write_text(PEM + "\n")
    assert from_env({"GITHUB_APP_ID": "7", "GITHUB_PRIVATE_KEY_PATH": str(path)}).private_key == PEM + "\n"
    inline = from_env({"GITHUB_APP_ID": "7", "GITHUB_PRIVATE_KEY": PEM.replace("\n", "\\n")})
    assert inline.private_key == PEM + "\n" and inline.app_id == 7 and inline.has_github_credentials


def test_dry_run_is_forced_without_credentials_and_can_be_asked_for():
    assert not from_env({"GITHUB_TOKEN": "t", "PETREL_DRY_RUN": "yes"}).sends_to_github
    assert from_env({"GITHUB_TOKEN": "t"}).sends_to_github


def test_secrets_are_not_in_the_repr():
    config = from_env({"GITHUB_TOKEN": "ghp_secretvalue", "GITHUB_WEBHOOK_SECRET": "hooksecret"})
    assert "ghp_secretvalue" not in repr(config)


def test_dotenv_parsing(tmp_path):
    path = tmp_path / ".env"
    path.write_text(
        "# comment\n"
        "GITHUB_WEBHOOK_SECRET=abc123  # trailing comment\n"
        "export PORT=9000\n"
        'GITHUB_PRIVATE_KEY="-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----"\n'
        "PETREL_APP_SLUG='my app'\n"
        "EMPTY=\n"
    )
    assert read_dotenv(path) == {
        "GITHUB_WEBHOOK_SECRET": "abc123",
        "PORT": "9000",
        "GITHUB_PRIVATE_KEY": PEM,
        "PETREL_APP_SLUG": "my app",
        "EMPTY": "",
    }


def test_environment_wins_over_dotenv(tmp_path, monkeypatch):
    path = tmp_path / ".env"
    path.write_text("PORT=9000\nPETREL_WORKERS=3\n")
    monkeypatch.setenv("PORT", "9100")
    values = settings.environment(path)
    assert (values["PORT"], values["PETREL_WORKERS"]) == ("9100", "3")


def test_env_example_is_a_valid_configuration_once_the_secret_is_set():
    from pathlib import Path

    values = read_dotenv(Path(__file__).resolve().parent.parent / ".env.example")
    values["GITHUB_WEBHOOK_SECRET"] = "s"
    config = from_env(values)
    config.require_webhook_secret()
    assert config.port == 8080 and not config.sends_to_github
    documented = set(values)
    assert {
        "GITHUB_WEBHOOK_SECRET",
        "GITHUB_APP_ID",
        "GITHUB_TOKEN",
        "DATABASE_URL",
        "PETREL_DRY_RUN",
        "K_SINK",
    } <= documented


# --------------------------------------------------------------------------- secrets stay secret

PASSWORD = "Sup3r-Secret-Pw"


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://petrel:{PASSWORD}@extra@db.example:5432/petrel",  # an unescaped @ in the password
        f"postgresql://petrel:{PASSWORD}/x@db.example/petrel",  # an unescaped / in the password
        f"postgresql://petrel:{PASSWORD}@db.example:54x2/petrel",
        f"postgresql://petrel:{PASSWORD}@db.example/petrel?bogus_option=1",  # libpq refuses the parameter
        f"postgresql://petrel:{PASSWORD}%zz@db.example/petrel",
        f"mysql://petrel:{PASSWORD}@db.example/petrel",
        f"petrel:{PASSWORD}@db.example/petrel",  # no scheme: libpq would quote it back in its error
        f"host=db.example password={PASSWORD} dbname='unterminated",
    ],
    ids=["two-at", "slash-in-password", "port", "unknown-parameter", "bad-percent", "scheme", "no-scheme", "key-value"],
)
def test_a_malformed_database_url_is_refused_in_one_line_without_its_password(url):
    with pytest.raises(SettingsError) as error:
        from_env({"DATABASE_URL": url})
    message = str(error.value)
    assert message.startswith("DATABASE_URL is malformed: ") and "\n" not in message
    assert PASSWORD not in message and "Secret" not in message and "extra" not in message


WELL_FORMED = [
    f"postgresql://petrel:{PASSWORD.replace('-', '%40')}@db.example:5432/petrel?sslmode=require",
    "postgres://petrel@db.example/petrel",
    "postgresql://postgres:@/postgres?host=/tmp/pgserver",  # what the embedded server gives
    "postgresql://petrel:pw@db1.example:5432,db2.example:5433/petrel",
    f"host=db.example port=5432 dbname=petrel user=petrel password='{PASSWORD}'",
]


def test_the_database_url_check_refuses_only_what_libpq_cannot_use():
    assert [from_env({"DATABASE_URL": url}).database_url for url in WELL_FORMED] == WELL_FORMED
    with pytest.raises(SettingsError):  # and the same check does refuse
        from_env({"DATABASE_URL": WELL_FORMED[0].replace("/petrel?", "/petrel?no_such_option=1&")})


def test_the_repr_masks_every_secret_and_every_credential_in_a_url(app_key):
    config = from_env(
        {
            "GITHUB_APP_ID": "7",
            "GITHUB_PRIVATE_KEY": app_key[0],
            "GITHUB_WEBHOOK_SECRET": "hook-secret-now",
            "GITHUB_WEBHOOK_SECRET_PREVIOUS": "hook-secret-before",
            "OPENAI_API_KEY": "model-key-value",
            "DATABASE_URL": f"postgresql://petrel:{PASSWORD}@db.example:5432/petrel",
            "GITHUB_API_URL": "https://ghe-user:ghe-password@ghe.example/api/v3",
            "OPENAI_BASE_URL": "https://llm.example/v1?api_key=query-key-value",
            "K_SINK": "https://sink-token-value@broker.example/",
        }
    )
    shown = repr(config)
    assert "PRIVATE KEY" not in shown and app_key[0].splitlines()[1] not in shown
    for secret in (
        "hook-secret-now",
        "hook-secret-before",
        "model-key-value",
        PASSWORD,
        "ghe-password",
        "query-key-value",
        "sink-token-value",
    ):
        assert secret not in shown and secret not in str(config)
    # what is not secret stays readable
    assert "postgresql://petrel:***@db.example:5432/petrel" in shown and "ghe.example/api/v3" in shown
    assert "webhook_secrets=('***', '***')" in shown and "raw=" not in shown


def test_secret_values_hold_every_secret_and_url_credential(app_key):
    config = from_env(
        {
            "GITHUB_WEBHOOK_SECRET": "hook-secret-now",
            "GITHUB_APP_ID": "7",
            "GITHUB_PRIVATE_KEY": app_key[0],
            "DATABASE_URL": "postgresql://petrel:p%40ss-w0rd-db@db.example/petrel",
            "OPENAI_BASE_URL": "https://user:base-url-password@llm.example/v1",
        }
    )
    values = config.secret_values()
    assert {"hook-secret-now", "p@ss-w0rd-db", "base-url-password", app_key[0].strip()} <= set(values)
    assert app_key[0].splitlines()[1] in values  # one line of the key alone is still the key
    assert "petrel" not in values  # a user name is no secret


def test_github_url_is_derived_from_the_api_url_or_set():
    assert from_env({}).github_host == "github.com"
    assert from_env({"GITHUB_API_URL": "https://ghe.example/api/v3"}).github_url == "https://ghe.example"
    assert from_env({"GITHUB_API_URL": "https://api.acme.ghe.com"}).github_host == "acme.ghe.com"
    assert from_env({"GITHUB_API_URL": "http://127.0.0.1:8123"}).github_host == "github.com"  # a proxy, a test server
    assert from_env({"GITHUB_URL": "https://Code.Example/"}).github_host == "code.example"
    with pytest.raises(SettingsError, match="^GITHUB_URL="):
        from_env({"GITHUB_URL": "code.example"})


def test_logs_never_show_a_configured_secret_in_any_form(env, app_key):
    """The log formatter replaces the settings' secret values (which have no recognisable shape)."""
    import io
    import json
    import logging

    from shared.runtime import log

    password = "p@ss-w0rd-db"
    config = env(
        GITHUB_WEBHOOK_SECRET="whsec plain words 9f2c",
        GITHUB_WEBHOOK_SECRET_PREVIOUS="old-secret-value-77",
        OPENAI_API_KEY="model-key-without-shape-42",
        GITHUB_APP_ID="1",
        GITHUB_PRIVATE_KEY=app_key[0],
        DATABASE_URL="postgresql://petrel:p%40ss-w0rd-db@127.0.0.1:1/petrel",
    )
    stream = io.StringIO()
    log.setup()  # Petrel's handler on the root logger, written to `stream` for this test
    [handler] = [h for h in logging.getLogger().handlers if getattr(h, "_petrel", False)]
    before = handler.setStream(stream)
    logger = logging.getLogger("petrel.test.secrets")
    try:
        for secret in (*config.webhook_secrets, config.openai_api_key, password):
            logger.warning("plain %s, repr %r, json %s", secret, {"value": secret}, json.dumps({"value": secret}))
        logger.warning("the url %s", config.database_url)
        logger.warning("a key as JSON %s and one line of it: %s", json.dumps(app_key[0]), app_key[0].splitlines()[2])
        try:
            raise RuntimeError(f"could not log in as petrel with {password}")
        except RuntimeError:
            logger.exception("connecting failed")
    finally:
        handler.setStream(before)
    written = stream.getvalue()
    for secret in (*config.webhook_secrets, config.openai_api_key, password, "p%40ss-w0rd-db"):
        assert secret not in written
    assert all(line not in written for line in app_key[0].splitlines()[1:-1])
    assert "whsec plain words" not in written and "Traceback" in written and "[redacted]" in written


def test_every_setting_petrel_reads_is_in_env_example_and_in_the_readmes_table():
    import inspect
    import re
    from pathlib import Path

    from shared.runtime import variables

    root = Path(__file__).resolve().parent.parent
    read = set(
        re.findall(r'"([A-Z][A-Z0-9]*_[A-Z0-9_]+|PORT)"', inspect.getsource(from_env) + inspect.getsource(variables))
    )
    assert {"PETREL_MODEL_TEMPERATURE", "PETREL_MODEL_CONCURRENCY", "GITHUB_TOKEN"} <= read  # the scan finds them
    example = set(read_dotenv(root / ".env.example"))
    readme = root.joinpath("README.md").read_text(encoding="utf-8")
    table = readme[readme.index("\n## Settings\n") :]
    table = table[: table.index("\n## ", 1)]
    assert sorted(read - example) == []
    assert sorted(name for name in read if f"`{name}`" not in table) == []
