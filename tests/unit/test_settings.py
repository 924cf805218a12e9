"""Settings: defaults, file and environment overrides, and loud start-up failures."""

from __future__ import annotations

import pytest

from proxy.settings import SettingsError, load_settings


def test_defaults_match_the_documented_contract():
    settings = load_settings(environ={})
    assert settings.server.port == 8900
    assert settings.server.host == "0.0.0.0"
    assert settings.regions.allowed == ("kr1", "kr2", "kr3", "jp1")
    assert settings.regions.nks == ("kr1", "kr2", "kr3")
    assert settings.upstream.timeout == 30 and settings.upstream.connect_timeout == 5
    assert settings.upstream.endpoints["compute"] == (
        "https://{region}-api-instance-infrastructure.nhncloudservice.com"
    )
    assert settings.upstream.endpoints["object_storage"] == (
        "https://{region}-api-object-storage.nhncloudservice.com"
    )
    assert settings.tasks.redis_url == ""
    assert settings.logging.level == "INFO" and settings.logging.format == "text"


def test_file_overrides_only_the_keys_it_names(tmp_path):
    path = tmp_path / "proxy.toml"
    path.write_text(
        '[server]\nport = 9100\n[upstream.endpoints]\ncompute = "http://127.0.0.1:9000/{region}/compute"\n'
        '[cors]\nallow_origins = ["*"]\n'
    )
    settings = load_settings(path, environ={})
    assert settings.server.port == 9100
    assert settings.server.host == "0.0.0.0"
    assert settings.upstream.endpoints["compute"] == "http://127.0.0.1:9000/{region}/compute"
    assert settings.upstream.endpoints["image"].startswith("https://{region}-api-image")
    assert settings.cors.allow_origins == ("*",)


def test_config_file_from_environment_and_single_keys_from_env(tmp_path):
    path = tmp_path / "proxy.toml"
    path.write_text("[server]\nport = 9100\n")
    settings = load_settings(
        environ={
            "NHN_PROXY_CONFIG": str(path),
            "NHN_PROXY_SERVER_PORT": "9200",
            "NHN_PROXY_CORS_ALLOW_ORIGINS": "http://a.example:3000, http://b.example",
            "NHN_PROXY_UPSTREAM_ENDPOINTS_IDENTITY": "http://127.0.0.1:1/identity",
            "NHN_PROXY_PLUGINS_TRACE": "true",
        }
    )
    assert settings.server.port == 9200
    assert settings.cors.allow_origins == ("http://a.example:3000", "http://b.example")
    assert settings.upstream.endpoints["identity"] == "http://127.0.0.1:1/identity"
    assert settings.plugins.trace is True


def test_plugin_sections_are_kept_for_third_party_plugins(tmp_path):
    path = tmp_path / "proxy.toml"
    path.write_text("[my_plugin]\nanswer = 42\n")
    assert load_settings(path, environ={}).section("my_plugin") == {"answer": 42}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[server\nport = 1", "not valid TOML"),
        ("[server]\nprot = 1\n", "unknown setting server.prot"),
        ("[server]\nport = 'x'\n", "server.port must be a number"),
        ("[server]\nport = 70000\n", "out of range"),
        ('[upstream.endpoints]\ncompute = "ftp://x/{region}"\n', "not an absolute http(s) URL"),
        ('[upstream.endpoints]\ncompute = "https://{tenant}.x"\n', "only placeholder"),
        ('[upstream.endpoints]\ncompute = "https://u@x.example/{region}"\n', "user info"),
        ('[regions]\nallowed = ["kr1.evil.com"]\n', "not a region code"),
        ("[regions]\nallowed = []\n", "at least one region"),
        ('[cors]\nallow_origins = ["localhost:3000"]\n', "not an origin"),
        ('[logging]\nlevel = "LOUD"\n', "logging.level"),
    ],
)
def test_bad_settings_fail_with_one_clear_line(tmp_path, content, message):
    path = tmp_path / "bad.toml"
    path.write_text(content)
    with pytest.raises(SettingsError) as excinfo:
        load_settings(path, environ={})
    assert message in str(excinfo.value)
    assert "\n" not in str(excinfo.value)


def test_missing_file_and_bad_env_value():
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings("/nonexistent/proxy.toml", environ={})
    with pytest.raises(SettingsError, match="NHN_PROXY_SERVER_PORT"):
        load_settings(environ={"NHN_PROXY_SERVER_PORT": "eighty"})
