"""The shared --threads option: on every command, and it sets torch's threads and the environment."""

from __future__ import annotations

import os

import click
import pytest
import torch
from click.testing import CliRunner

from seq2exp_cli.cli import SUBCOMMANDS, cli
from seq2exp_cli.cli.options import THREAD_VARIABLES, threads_option


@pytest.fixture
def restore_threads(monkeypatch):
    for name in THREAD_VARIABLES:
        monkeypatch.setenv(name, "1")  # records the original value (or its absence) for the undo
        monkeypatch.delenv(name)
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("name", list(SUBCOMMANDS))
def test_every_command_has_threads(name):
    command = cli.get_command(click.Context(cli), name)
    options = {opt for param in command.params for opt in param.opts}
    assert "--threads" in options, f"seq2exp {name} has no --threads"


def test_threads_sets_torch_and_environment(restore_threads):
    seen = {}

    @click.command()
    @threads_option()
    def probe() -> None:
        seen["torch"] = torch.get_num_threads()
        seen["env"] = {name: os.environ.get(name) for name in THREAD_VARIABLES}

    target = 2 if torch.get_num_threads() != 2 else 1
    result = CliRunner().invoke(probe, ["--threads", str(target)])
    assert result.exit_code == 0, result.output
    assert seen["torch"] == target
    assert seen["env"] == {name: str(target) for name in THREAD_VARIABLES}


def test_threads_left_alone_without_the_option(restore_threads):
    seen = {}

    @click.command()
    @threads_option()
    def probe() -> None:
        seen["env"] = [os.environ.get(name) for name in THREAD_VARIABLES]

    assert CliRunner().invoke(probe, []).exit_code == 0
    assert seen["env"] == [None] * len(THREAD_VARIABLES)


def test_exposed_value_reaches_the_command(restore_threads):
    seen = {}

    @click.command()
    @threads_option(expose=True, default=1)
    def probe(threads: int) -> None:
        seen["threads"] = threads

    assert CliRunner().invoke(probe, []).exit_code == 0
    assert seen["threads"] == 1
    assert CliRunner().invoke(probe, ["--threads", "3"]).exit_code == 0
    assert seen["threads"] == 3


def test_threads_below_one_is_refused(restore_threads):
    result = CliRunner().invoke(cli, ["simulate", "--threads", "0", "-o", "unused"])
    assert result.exit_code != 0
    assert "--threads" in result.output
