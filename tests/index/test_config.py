from pathlib import Path

import pytest

from hg_index.config import ConfigError, build_config, default_home, load_config


def test_default_home_env():
    assert default_home({"HG_HOME": "/g"}) == Path("/g")
    assert default_home({"XDG_DATA_HOME": "/x"}) == Path("/x/hg")


def test_defaults_without_file(tmp_path):
    cfg = load_config(home=tmp_path, env={})
    assert cfg.storage == tmp_path / "storage"
    assert cfg.database == tmp_path / "gallery.db"
    assert cfg.events == tmp_path / "events.ndjson"
    assert cfg.sources == () and cfg.config_file is None


def test_file_in_home_is_read(tmp_path):
    (tmp_path / "config.toml").write_text(
        'storage = "/nas/storage"\n[server]\nport = 4000\n'
        '[[sources]]\ndir = "pics"\nmax_filesize = "5m"\nexcludes = "*.mov"\n'
    )
    cfg = load_config(home=tmp_path, env={})
    assert cfg.storage == Path("/nas/storage")
    assert cfg.section("server") == {"port": 4000}
    (src,) = cfg.sources
    assert src.dir == tmp_path / "pics" and src.name == "pics"
    assert src.max_filesize == 5 * 2**20 and src.excludes == ("*.mov",)


def test_flags_override(tmp_path):
    cfg = load_config(home=tmp_path, storage=tmp_path / "s2", env={})
    assert cfg.storage == tmp_path / "s2"


@pytest.mark.parametrize(
    "text",
    [
        "[[sources]]\nname='x'\n",
        "[[sources]]\ndir='a'\nbogus=1\n",
        "sources = 3\n",
        "x = 1\n",
        "[[sources]]\ndir='a'\nmax_filesize='lots'\n",
        "not toml =",
    ],
)
def test_invalid(tmp_path, text):
    (tmp_path / "c.toml").write_text(text)
    with pytest.raises(ConfigError):
        load_config(home=tmp_path, config=tmp_path / "c.toml", env={})


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        build_config(tmp_path, None) and load_config(config=tmp_path / "nope.toml", env={})
