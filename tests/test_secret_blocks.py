"""Credentials from Prefect Secret blocks when the environment variable is not set (secrets.py),
against the session's real (temporary) Prefect server."""

from __future__ import annotations

import pytest

from feedback_pipeline.deliver.jira.config import JiraConfig
from feedback_pipeline.errors import ConfigError
from feedback_pipeline.secrets import default_block_name, resolve_secret

pytestmark = pytest.mark.slow


@pytest.fixture
def api(prefect_harness, monkeypatch):
    """The harness's API URL exported as a deployment would have it; no FP_* variables."""
    from prefect.settings import PREFECT_API_URL

    monkeypatch.setenv("PREFECT_API_URL", PREFECT_API_URL.value())
    for var in ("FP_TEST_TOKEN", "FP_JIRA_USER", "FP_JIRA_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    return PREFECT_API_URL.value()


def _save(name: str, value: str) -> None:
    from prefect.blocks.system import Secret

    Secret(value=value).save(name, overwrite=True)


def test_block_names_are_the_variable_in_kebab_case():
    assert default_block_name("FP_SLACK_TOKEN") == "fp-slack-token"
    assert default_block_name("") is None


def test_the_environment_variable_wins_over_the_block(api, monkeypatch):
    _save("fp-test-token", "from-the-block")
    monkeypatch.setenv("FP_TEST_TOKEN", "from-the-env")

    assert resolve_secret("FP_TEST_TOKEN").get_secret_value() == "from-the-env"


def test_the_default_block_is_read_when_the_variable_is_unset(api):
    _save("fp-test-token", "from-the-block")

    secret = resolve_secret("FP_TEST_TOKEN")

    assert secret.get_secret_value() == "from-the-block"
    assert "from-the-block" not in repr(secret) + str(secret)


def test_a_named_block_is_read(api):
    _save("team-token", "named-block-value")

    assert resolve_secret("FP_TEST_TOKEN", "team-token").get_secret_value() == "named-block-value"


def test_a_missing_block_names_the_variable_and_the_block(api):
    with pytest.raises(ConfigError) as err:
        resolve_secret("FP_TEST_TOKEN", "no-such-block", what="the test token")

    message = str(err.value)
    assert "FP_TEST_TOKEN" in message and "no-such-block" in message
    assert "the test token" in message


def test_without_a_prefect_api_the_error_says_what_to_set(monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("FP_TEST_TOKEN", raising=False)

    with pytest.raises(ConfigError, match=r"export FP_TEST_TOKEN=.*fp-test-token"):
        resolve_secret("FP_TEST_TOKEN", what="the test token")


def test_jira_credentials_come_from_blocks(api):
    _save("fp-jira-user", "pm-bot@example.com")
    _save("fp-jira-token", "jira-block-token")
    settings = JiraConfig(server="http://127.0.0.1:1", project="FB")

    user, token = settings.credentials()

    assert (user, token.get_secret_value()) == ("pm-bot@example.com", "jira-block-token")


TOKEN = "ghp_" + "FAKEgithubTOKEN0123456789abcdefABCD"


def _config_error(tmp_path, body: str) -> str:
    from feedback_pipeline.config import load_settings
    from feedback_pipeline.errors import ConfigError

    path = tmp_path / "c.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    text = str(info.value) + repr(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    return text


def test_a_token_under_a_wrong_key_is_not_echoed(tmp_path):
    text = _config_error(tmp_path, f'[deliver.jira]\ntokne = "{TOKEN}"\n')

    assert "deliver.jira.tokne" in text and "Extra inputs are not permitted" in text
    assert TOKEN not in text and "input_value" not in text


@pytest.mark.parametrize("value", [TOKEN, "xoxb-000111222-333444555-FAKEslackTOKEN42",
                                   "s3cr3t value with spaces", "Abcdefgh1234567890XYZ"])
def test_a_token_where_a_variable_name_belongs_is_refused_without_echo(tmp_path, value):
    text = _config_error(tmp_path, f'[deliver.jira]\ntoken_env = "{value}"\n')

    assert "deliver.jira.token_env" in text and "environment variable" in text
    assert value not in text


def test_a_variable_name_is_accepted(tmp_path):
    from feedback_pipeline.config import load_settings

    path = tmp_path / "c.toml"
    path.write_text('[deliver.jira]\ntoken_env = "MY_JIRA_TOKEN_2"\n', encoding="utf-8")
    assert load_settings(path).deliver.jira.token_env == "MY_JIRA_TOKEN_2"


def test_block_names_may_carry_their_type_but_never_a_webhook(tmp_path):
    from feedback_pipeline.config import load_settings

    path = tmp_path / "c.toml"
    path.write_text('[alerts]\nnotify_block = "slack-webhook/feedback-alerts"\n', encoding="utf-8")
    assert load_settings(path).alerts.notify_block == "slack-webhook/feedback-alerts"

    hook = "https://hooks.slack.com/services/T0000FAKE/B0000FAKE/abcdefghijklmnopqrstuvwx"
    text = _config_error(tmp_path, f'[alerts]\nnotify_block = "{hook}"\n')
    assert "alerts.notify_block" in text and hook not in text


def test_credentials_in_the_jira_server_url_are_refused_at_load(tmp_path):
    text = _config_error(
        tmp_path, '[deliver.jira]\nserver = "https://bob:Tok3nValue99@acme.atlassian.net"\n')

    assert "deliver.jira.server" in text and "credentials" in text
    assert "Tok3nValue99" not in text and "bob:" not in text


def test_resolve_secret_refuses_a_token_as_variable_name():
    from feedback_pipeline.errors import ConfigError
    from feedback_pipeline.secrets import resolve_secret

    with pytest.raises(ConfigError) as info:
        resolve_secret(TOKEN, what="the GitHub token")
    assert TOKEN not in str(info.value) and "not shown" in str(info.value)
