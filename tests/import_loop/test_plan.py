"""What hg-import runs: its stages' command lines from the flags and the config."""

from __future__ import annotations

from hg_common.config import load_config
from hg_import.batches import build_command
from hg_import.cli import _plan, build_parser


def plan_for(tmp_path, config: str = ""):
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(config)
    args = build_parser().parse_args(["--home", str(home), str(tmp_path / "src")])
    return _plan(args, load_config(args.home, args.config))


def test_the_imports_hg_build_runs_without_worker_processes(tmp_path):
    # its workers help a first build of a large index; in an import they were only memory
    cmd = build_command(plan_for(tmp_path))
    assert cmd[0].endswith("hg-build")
    assert cmd[-2:] == ["--workers", "1"]


def test_build_workers_set_in_the_config_are_kept(tmp_path):
    cmd = build_command(plan_for(tmp_path, "[build]\nworkers = 3\n"))
    assert "--workers" not in cmd
