import os
from pathlib import Path

import pytest

from hg_common.config import build_config, load_config
from hg_common.errors import ConfigError
from hg_common.home import default_home
from tests.conftest import run_tool


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


# -- one schema for every table (issue 13 item 7) ------------------------------------

README = Path(__file__).resolve().parents[2] / "README.md"


def toml_blocks(after: str) -> list[str]:
    """The ```toml blocks of README.md after a heading."""
    text = README.read_text().split(after, 1)[1]
    return [b.split("```", 1)[0] for b in text.split("```toml\n")[1:]]


def test_every_key_the_readme_shows_is_accepted(tmp_path):
    config, serve = toml_blocks("## Configuration\n")[0], toml_blocks("### hg-serve\n")[0]
    for text in (config, serve):
        (tmp_path / "c.toml").write_text(text)
        cfg = load_config(home=tmp_path, config=tmp_path / "c.toml", env={})
        assert cfg.config_file == tmp_path / "c.toml"
    (tmp_path / "c.toml").write_text(config)
    cfg = load_config(home=tmp_path, config=tmp_path / "c.toml", env={})
    extract = cfg.section("extract")
    assert {k: extract[k] for k in ("jobs", "video", "ml")} == {
        "jobs": 0,
        "video": True,
        "ml": "local",
    }
    assert cfg.value("server", "map_tiles") == "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    assert cfg.value("build", "chunk_size") == 500 and cfg.value("index", "jobs") == 4


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[extract]\njobs = "many"\n', 'line 2: [extract] jobs must be a whole number, got "many"'),
        ("[index]\n\nmatcher = 'fast'\n", "line 3: [index] matcher must be one of size-"),
        ("[build]\nworkers = true\n", "line 2: [build] workers must be a whole number, got true"),
        ("[build]\nchunk_size = 0\n", "line 2: [build] chunk_size must be at least 1"),
        ("[server]\nport = 3000\nprot = 1\n", "line 3: unknown key 'prot' in [server] (did you"),
        ("[server]\nport = 70000\n", "line 2: [server] port must be 0..65535"),
        ("[server]\nsession_hours = -1\n", "line 2: [server] session_hours must be more than 0"),
        ('[server]\nmap_tiles = "https://t/{z}/{x}.png"\n', "line 2: [server] map_tiles must"),
        ('[server]\nmap_tiles = "ftp://t/{z}/{x}/{y}"\n', "line 2: [server] map_tiles must be"),
        ("server.watch_poll = 0\n", "line 1: [server] watch_poll must be more than 0"),
        (
            '[[server.users]]\nname = "a"\npassword = "x"\n\n[[server.users]]\nname = "b"\n'
            'pasword = "y"\n',
            "line 7: unknown key 'pasword' in [[server.users]] #2 (did you mean 'password'?)",
        ),
        ('[[server.users]]\npassword = "x"\n', "line 1: [[server.users]] #1 name is missing"),
        ('[[sources]]\ndir = "a"\n[[sources]]\ndir = "b"\nbogus = 1\n', "line 5: unknown key"),
        ("[[sources]]\ndir = 'a'\nkeep_known = 'yes'\n", "line 3: [[sources]] #1 keep_known"),
        ("[[sources]]\ndir = 'a'\nexcludes = [1]\n", "a string or a list of strings, got a list"),
        ("[index]\nadd_limits = '1,x'\n", "line 2: [index] add_limits: invalid add limits"),
        ("[serv]\nport = 1\n", "line 1: unknown key 'serv' at the top level (did you mean"),
        ("index = 3\n", "line 1: index must be a table, got 3"),
        ("storage = ''\n", "line 1: storage must be a non-empty string (a path)"),
    ],
)
def test_a_wrong_key_or_value_is_named_with_its_line(tmp_path, text, message):
    (tmp_path / "c.toml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(home=tmp_path, config=tmp_path / "c.toml", env={})
    assert str(caught.value).startswith(f"config file {tmp_path / 'c.toml'}, line ")
    assert message in str(caught.value)


def test_a_binary_file_is_a_config_error(tmp_path):
    (tmp_path / "c.toml").write_bytes(b"[server]\nport = 1\n\x89PNG\r\n\x1a\n\x00\xff")
    with pytest.raises(ConfigError, match=r"line 3: not UTF-8 text \(byte 0x89"):
        load_config(home=tmp_path, config=tmp_path / "c.toml", env={})


@pytest.mark.parametrize(
    "template",
    ["", "https://{s}.tile.example.org/{z}/{x}/{y}.png", "/tiles/{z}/{x}/{y}.png"],
)
def test_map_tiles_templates(tmp_path, template):
    (tmp_path / "c.toml").write_text(f'[server]\nmap_tiles = "{template}"\n')
    cfg = load_config(home=tmp_path, config=tmp_path / "c.toml", env={})
    assert cfg.value("server", "map_tiles") == template


def test_matcher_under_build_still_works(tmp_path):
    """An earlier README showed `[build] matcher`; hg-index reads it when [index] has none."""
    (tmp_path / "c.toml").write_text("[build]\nmatcher = 'size'\n")
    cfg = load_config(home=tmp_path, config=tmp_path / "c.toml", env={})
    assert cfg.section("build") == {"matcher": "size"}


def test_key_lines():
    from hg_common.tomllines import key_lines, line_of

    text = (
        'storage = "s"\n'  # 1
        "[server]\n"  # 2
        'doc = """\n'  # 3
        "port = 1\n"  # 4: inside a string
        '"""\n'  # 5
        "port = 2  # the real one\n"  # 6
        "[[sources]]\n"  # 7
        "dir = 'a'\n"  # 8
        "[[sources]]\n"  # 9
        "\"dir\" = 'b'\n"  # 10
        "[sources.extra]\n"  # 11
        "x.y = 1\n"  # 12
        "inline = { a = 1 }\n"  # 13
    )
    lines = key_lines(text)
    assert lines[("storage",)] == 1 and lines[("server", "port")] == 6
    assert lines[("sources", 0, "dir")] == 8 and lines[("sources", 1, "dir")] == 10
    assert lines[("sources", 1, "extra", "x", "y")] == 12
    assert line_of(text, ("sources", 1, "extra", "inline", "a")) == 13
    assert line_of(text, ("nothing",)) is None and line_of(None, ("storage",)) is None


@pytest.mark.skipif(os.geteuid() != 0, reason="runs a tool as another user (needs root)")
def test_a_home_this_user_may_not_enter_is_a_clear_config_error(tmp_path):
    """pytest's tmp is 0700 root: `nobody` can neither read the config nor see it exists."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text("[extract]\nvideo = false\n")
    run = run_tool("hg-build", "query", "", home=home, user="nobody")
    assert run.returncode == 2, run.stderr
    assert "config file" in run.stderr and "Permission denied" in run.stderr
    assert "internal error" not in run.stderr
