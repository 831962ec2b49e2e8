"""Cluster and Sentinel deployments in settings: URLs, config.yaml sections, what is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from roleredis.settings import Settings

from roleredis.foundation.config import load_settings
from roleredis.foundation.errors import ConfigError
from roleredis.foundation.urls import deployment_url, redact_url


def test_a_cluster_url_names_its_nodes() -> None:
    d = deployment_url("redis+cluster://u:p%40ss@10.0.0.1:7000,10.0.0.2:7001")
    assert d is not None
    assert (d.kind, d.nodes, d.db, d.tls) == (
        "cluster",
        (("10.0.0.1", 7000), ("10.0.0.2", 7001)),
        0,
        False,
    )
    assert (d.username, d.password) == ("u", "p@ss")


def test_a_sentinel_url_names_the_sentinels_the_service_and_the_db() -> None:
    d = deployment_url("rediss+sentinel://[::1]:26379,h:26380/cache/3")
    assert d is not None
    assert (d.kind, d.nodes, d.service_name, d.db, d.tls) == (
        "sentinel",
        (("::1", 26379), ("h", 26380)),
        "cache",
        3,
        True,
    )


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("redis+sentinel://h:1", "name the service"),
        ("redis+cluster://h:1/2", "only database 0"),
        ("redis+cluster://h", "is not host:port"),
        ("redis+cluster://", "no host:port"),
        ("redis+sentinel://h:1/s/x", "db must be a number"),
    ],
)
def test_bad_deployment_urls_say_what_is_wrong(url: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        load_settings(environ={"REDIS_URL": url}, read_file=False)


def test_the_password_of_a_multi_node_url_is_redacted_and_scrubbed() -> None:
    url = "redis+cluster://:s3cret-pw@h1:1,h2:2"
    assert "s3cret-pw" not in redact_url(url)
    settings = load_settings(environ={"REDIS_URL": url}, read_file=False)
    assert "s3cret-pw" not in repr(settings)
    assert "s3cret-pw" in settings.secrets()


def test_mode_from_the_url() -> None:
    def mode(url: str) -> str:
        return load_settings(environ={"REDIS_URL": url}, read_file=False).mode

    assert mode("redis://h:1/0") == "standalone"
    assert mode("memory://") == "memory"
    assert mode("redis+cluster://h:1") == "cluster"
    assert mode("redis+sentinel://h:1/svc") == "sentinel"


def test_config_yaml_sections(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "redis:\n"
        "  cluster: {startup_nodes: ['127.0.0.1:7000', {host: 127.0.0.2, port: 7001}],"
        " colocate_roles: false}\n",
        encoding="utf-8",
    )
    settings = load_settings(environ={}, path=path)
    assert settings.mode == "cluster"
    assert settings.cluster_nodes == ("127.0.0.1:7000", "127.0.0.2:7001")
    assert settings.colocate_roles is False
    assert settings.source("colocate_roles") == f"file:{path}"


def test_colocate_roles_from_the_file_with_nodes_from_redis_url(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("redis:\n  cluster: {colocate_roles: false}\n", encoding="utf-8")
    settings = load_settings(environ={"REDIS_URL": "redis+cluster://h:7000"}, path=path)
    assert (settings.mode, settings.colocate_roles) == ("cluster", False)


def test_sentinel_needs_both_parts_and_not_a_cluster_too() -> None:
    with pytest.raises(ConfigError, match="needs both service_name"):
        Settings(sentinel_nodes=("h:26379",))
    with pytest.raises(ConfigError, match="both set"):
        Settings(cluster_nodes=("h:7000",), sentinel_nodes=("h:1",), sentinel_service="s")
    with pytest.raises(ConfigError, match="is not host:port"):
        Settings(cluster_nodes=("nope",))
