"""Settings: one clear line naming the variable for every missing or contradictory setting."""

from __future__ import annotations

import pytest

from shared import settings
from shared.settings import SettingsError, from_env, read_dotenv

PEM = "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----"


def test_defaults():
    config = from_env({})
    assert (config.api_url, config.port, config.dry_run, config.webhook_secrets) == ("https://api.github.com", 8080, False, ())
    assert not config.has_github_credentials and not config.sends_to_github


@pytest.mark.parametrize("env,variable", [
    ({"GITHUB_APP_ID": "abc", "GITHUB_PRIVATE_KEY": PEM}, "GITHUB_APP_ID"),
    ({"GITHUB_APP_ID": "1"}, "GITHUB_PRIVATE_KEY"),
    ({"GITHUB_PRIVATE_KEY": PEM}, "GITHUB_APP_ID"),
    ({"GITHUB_APP_ID": "1", "GITHUB_PRIVATE_KEY": PEM, "GITHUB_TOKEN": "t"}, "GITHUB_TOKEN"),
    ({"GITHUB_APP_ID": "1", "GITHUB_PRIVATE_KEY": PEM, "GITHUB_PRIVATE_KEY_PATH": "/k.pem"}, "GITHUB_PRIVATE_KEY_PATH"),
    ({"GITHUB_APP_ID": "1", "GITHUB_PRIVATE_KEY_PATH": "/nonexistent/key.pem"}, "GITHUB_PRIVATE_KEY_PATH"),
    ({"GITHUB_APP_ID": "1", "GITHUB_PRIVATE_KEY": "not a key"}, "GITHUB_PRIVATE_KEY"),
    ({"GITHUB_API_URL": "api.github.com"}, "GITHUB_API_URL"),
    ({"PORT": "http"}, "PORT"),
    ({"PORT": "70000"}, "PORT"),
    ({"PETREL_DRY_RUN": "maybe"}, "PETREL_DRY_RUN"),
    ({"K_SINK": "broker"}, "K_SINK"),
    ({"GITHUB_WEBHOOK_SECRET_PREVIOUS": "old"}, "GITHUB_WEBHOOK_SECRET"),
    ({"PETREL_WORKERS": "-1"}, "PETREL_WORKERS"),
])
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
        "GITHUB_PRIVATE_KEY=\"-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\"\n"
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
    assert {"GITHUB_WEBHOOK_SECRET", "GITHUB_APP_ID", "GITHUB_TOKEN", "DATABASE_URL", "PETREL_DRY_RUN", "K_SINK"} <= documented
