"""Settings: defaults, file and environment overrides, and loud start-up failures."""

from __future__ import annotations

import asyncio
import re
import socket
import sys

import pytest

from nhn_proxy.app import create_app
from nhn_proxy.plugin_manager import load_plugins
from nhn_proxy.server import check_port_free, check_workers, choose_event_loop
from nhn_proxy.settings import Settings, SettingsError, load_settings


def test_defaults_match_the_documented_contract():
    settings = load_settings(environ={})
    assert settings.server.port == 8900
    assert settings.server.host == "0.0.0.0"
    assert settings.regions.allowed == ("kr1", "kr2", "kr3", "jp1")
    assert settings.deprecations == ()
    assert settings.upstream.timeout == 30 and settings.upstream.connect_timeout == 5
    assert settings.upstream.endpoints["compute"] == (
        "https://{region}-api-instance-infrastructure.nhncloudservice.com"
    )
    assert settings.upstream.endpoints["object_storage"] == (
        "https://{region}-api-object-storage.nhncloudservice.com"
    )
    assert settings.tasks.redis_url == ""
    assert settings.logging.level == "INFO" and settings.logging.format == "text"
    assert settings.upstream.read_budget == 32 * 1024 * 1024
    assert settings.upstream.listing_concurrency == 8


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


# -- NKS regions: the kubernetes plugin's own section (was the core's regions.nks) -------------


def _nks_regions(settings: Settings) -> tuple[str, ...]:
    plugins = load_plugins(settings)
    return tuple(plugins.config(settings).section("kubernetes")["regions"])


def test_nks_regions_default_to_kr1_kr2_kr3_in_the_kubernetes_section():
    assert _nks_regions(load_settings(environ={})) == ("kr1", "kr2", "kr3")


def test_kubernetes_regions_from_file_and_environment_are_lower_cased(tmp_path):
    path = tmp_path / "proxy.toml"
    path.write_text('[kubernetes]\nregions = ["KR1", "kr3"]\n')
    from_file = load_settings(path, environ={})
    assert _nks_regions(from_file) == ("kr1", "kr3")
    assert from_file.deprecations == ()
    from_env = load_settings(environ={"NHN_PROXY_KUBERNETES_REGIONS": "kr2, JP1"})
    assert _nks_regions(from_env) == ("kr2", "jp1")
    assert from_env.deprecations == ()


def test_regions_nks_in_a_file_still_works_with_a_deprecation_note(tmp_path):
    path = tmp_path / "proxy.toml"
    path.write_text('[regions]\nnks = ["kr2"]\n')
    settings = load_settings(path, environ={})
    assert _nks_regions(settings) == ("kr2",)
    assert settings.regions.allowed == ("kr1", "kr2", "kr3", "jp1")  # the rest untouched
    assert settings.deprecations == (
        f"{path}: regions.nks is deprecated and will be removed; use kubernetes.regions",
    )


def test_regions_nks_from_the_environment_still_works_with_a_deprecation_note():
    settings = load_settings(environ={"NHN_PROXY_REGIONS_NKS": "kr3"})
    assert _nks_regions(settings) == ("kr3",)
    assert settings.deprecations == (
        "NHN_PROXY_REGIONS_NKS is deprecated and will be removed; use NHN_PROXY_KUBERNETES_REGIONS",
    )


def test_an_explicit_kubernetes_regions_wins_over_the_deprecated_alias(tmp_path):
    path = tmp_path / "proxy.toml"
    path.write_text('[regions]\nnks = ["kr2"]\n[kubernetes]\nregions = ["kr1"]\n')
    from_file = load_settings(path, environ={})
    assert _nks_regions(from_file) == ("kr1",)
    assert len(from_file.deprecations) == 1  # the alias is still reported
    from_env = load_settings(
        environ={"NHN_PROXY_REGIONS_NKS": "kr2", "NHN_PROXY_KUBERNETES_REGIONS": "kr3"}
    )
    assert _nks_regions(from_env) == ("kr3",)
    assert len(from_env.deprecations) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[kubernetes]\nregions = ["kr1.evil.com"]\n', "'kr1.evil.com' is not a region code"),
        ('[kubernetes]\nregions = "kr1"\n', "Not a valid list"),
        ("[kubernetes]\nregions = [1]\n", "Not a valid string"),
        ('[regions]\nnks = ["k r1"]\n', "'k r1' is not a region code"),  # the alias too
    ],
)
def test_an_invalid_nks_region_stops_start_up_naming_the_section(tmp_path, content, message):
    path = tmp_path / "bad.toml"
    path.write_text(content)
    settings = load_settings(path, environ={})  # the core does not know the section's rules
    with pytest.raises(SettingsError) as excinfo:
        create_app(settings)
    text = str(excinfo.value)
    assert text.startswith("settings [kubernetes]: regions")
    assert message in text
    assert "\n" not in text


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
        ("[upstream]\nread_budget = 0\n", "upstream.read_budget"),
        ("[upstream]\nlisting_concurrency = 0\n", "upstream.listing_concurrency"),
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


def test_workers_and_event_loop_defaults_file_and_environment(tmp_path):
    defaults = load_settings(environ={})
    assert defaults.server.workers == 1 and defaults.server.event_loop == "auto"
    path = tmp_path / "proxy.toml"
    path.write_text('[server]\nworkers = 3\nevent_loop = "asyncio"\n')
    from_file = load_settings(path, environ={})
    assert from_file.server.workers == 3 and from_file.server.event_loop == "asyncio"
    from_env = load_settings(
        path, environ={"NHN_PROXY_SERVER_WORKERS": "4", "NHN_PROXY_SERVER_EVENT_LOOP": "uvloop"}
    )
    assert from_env.server.workers == 4 and from_env.server.event_loop == "uvloop"
    # --workers N reaches the settings as an override and wins over both
    overridden = load_settings(
        path, environ={"NHN_PROXY_SERVER_WORKERS": "4"}, overrides={"server": {"workers": 2}}
    )
    assert overridden.server.workers == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[server]\nworkers = 0\n", "server.workers=0 is out of range"),
        ("[server]\nworkers = -2\n", "server.workers=-2 is out of range"),
        ("[server]\nworkers = 1.5\n", "server.workers must be a whole number"),
        ('[server]\nworkers = "2"\n', "server.workers must be a number"),
        ("[server]\nworkers = true\n", "server.workers must be a number"),
        ('[server]\nevent_loop = "tokio"\n', 'server.event_loop must be "auto", "uvloop"'),
        ("[server]\nevent_loop = 1\n", "server.event_loop must be"),
    ],
)
def test_bad_workers_or_event_loop_fail_with_one_clear_line(tmp_path, content, message):
    path = tmp_path / "bad.toml"
    path.write_text(content)
    with pytest.raises(SettingsError, match=re.escape(message)):
        load_settings(path, environ={})


def test_bad_workers_from_the_environment():
    with pytest.raises(SettingsError, match="NHN_PROXY_SERVER_WORKERS"):
        load_settings(environ={"NHN_PROXY_SERVER_WORKERS": "two"})
    with pytest.raises(SettingsError, match=re.escape("server.workers=0 is out of range")):
        load_settings(environ={"NHN_PROXY_SERVER_WORKERS": "0"})


# -- the event loop chosen from server.event_loop ------------------------------------------


def _uvloop_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "uvloop", None)  # `import uvloop` raises ImportError


def test_auto_takes_uvloop_when_it_is_installed():
    pytest.importorskip("uvloop")
    loop = choose_event_loop("auto")
    assert loop.name == "uvloop"
    created = loop.factory()
    try:
        assert type(created).__module__.startswith("uvloop")
    finally:
        created.close()


def test_auto_falls_back_to_asyncio_without_uvloop(monkeypatch):
    _uvloop_missing(monkeypatch)
    loop = choose_event_loop("auto")
    assert loop == ("asyncio", asyncio.new_event_loop)


def test_uvloop_asked_for_but_missing_is_a_settings_error(monkeypatch):
    _uvloop_missing(monkeypatch)
    with pytest.raises(SettingsError) as excinfo:
        choose_event_loop("uvloop")
    assert str(excinfo.value) == (
        "server.event_loop = uvloop, but uvloop is not installed: "
        "pip install 'nhn-cloud-proxy[fast]'"
    )


def test_asyncio_is_the_standard_loop_even_with_uvloop_installed():
    loop = choose_event_loop("asyncio")
    assert loop == ("asyncio", asyncio.new_event_loop)


# -- what several workers need ---------------------------------------------------------------


def test_one_worker_needs_nothing_more():
    check_workers(load_settings(environ={}))  # no Redis, any port: today's single process


def test_several_workers_need_a_shared_task_store():
    settings = load_settings(environ={}, overrides={"server": {"workers": 2}})
    with pytest.raises(SettingsError) as excinfo:
        check_workers(settings)
    message = str(excinfo.value)
    assert message.startswith("server.workers = 2 (--workers) needs tasks.redis_url")
    assert "redis://" in message and "\n" not in message
    shared = {"server": {"workers": 2}, "tasks": {"redis_url": "redis://127.0.0.1:6379/0"}}
    check_workers(load_settings(environ={}, overrides=shared))


def test_several_workers_need_reuse_port_and_fork(monkeypatch):
    import nhn_proxy.server

    monkeypatch.setattr(nhn_proxy.server, "workers_possible", lambda: False)
    values = {"server": {"workers": 2}, "tasks": {"redis_url": "redis://r:6379/0"}}
    with pytest.raises(SettingsError, match="needs SO_REUSEPORT and fork"):
        check_workers(load_settings(environ={}, overrides=values))


def test_several_workers_need_a_fixed_port():
    values = {"server": {"workers": 2, "port": 0}, "tasks": {"redis_url": "redis://r:6379/0"}}
    with pytest.raises(SettingsError, match=re.escape("needs a fixed server.port")):
        check_workers(load_settings(environ={}, overrides=values))


def test_a_port_someone_listens_on_is_refused_and_a_free_one_is_not():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(
            SettingsError, match=re.escape(f"server.port {port} on 127.0.0.1 is already")
        ):
            check_port_free("127.0.0.1", port)
    check_port_free("127.0.0.1", port)  # closed again: free
