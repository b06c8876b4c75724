"""CLI conventions: flags generated from the config (help with defaults and units, choices), ``--version``,
did-you-mean, ``--executor`` vs export's ``--backend``, and a TOML round trip of every config field."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from csq_hw.cli.config_args import add_config_arguments
from csq_hw.cli.main import build_parser, main
from csq_hw.errors import UserError
from csq_hw.train.config import TrainConfig, config_options, config_to_toml, load_config


def _help(*argv: str, capsys) -> str:
    with pytest.raises(SystemExit) as done:
        main([*argv, "--help"])
    assert done.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines: compare on single spaces


def test_every_option_is_a_train_flag_with_its_default(capsys):
    text = _help("train", capsys=capsys)
    for o in config_options():
        assert o.cli_flag in text, o.cli_flag
    # defaults and units come from the declarations: QuantConfig.max_bits = 8 bit, BudgetOptions.spec = size=u4
    assert "bit positions per weight N (1..16) (default: 8 bit)" in text
    assert "(default: size=u4)" in text  # today's silent default of train --budget, now said
    assert "(default: a third of the epochs; 80% with planes)" in text  # a computed default in words
    assert "default runs/<model>-<dataset>-<budget>-s<seed>" in text  # --out says what it really does


def test_sweep_has_the_config_flags_but_its_own_budget(capsys):
    text = _help("sweep", capsys=capsys)
    assert "--max-bits" in text and "--finetune-step" in text and "--executor {local,ray}" in text
    assert "--budget " not in text and "--budget BUDGET" not in text  # budgets come from --cost/--budgets


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["train", "--optimizer", "adamw"], "invalid choice: 'adamw'"),
        (["train", "--plane-dtype", "float16"], "invalid choice: 'float16'"),
        (["train", "--act-bits", "many"], "give an integer or 'search'"),
        (["train", "--model-kwargs", "[1, 2]"], "give a JSON object"),
        (["export", "runs/x", "--backend", "vitys"], "invalid choice: 'vitys'"),
        (["export", "runs/x", "--io-type", "io_serial"], "invalid choice: 'io_serial'"),
        (["export", "runs/x", "--strategy", "fast"], "invalid choice: 'fast'"),
        (["sweep", "--executor", "slurm"], "invalid choice: 'slurm'"),
    ],
)
def test_closed_values_are_argparse_choices(argv, words, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1 and err.startswith("csq-hw: error: ")  # one line, not the usage


def test_export_choices_are_hls_configs():
    import hls.config
    from csq_hw.cli import export_cmd

    assert (export_cmd.BACKENDS, export_cmd.IO_TYPES, export_cmd.STRATEGIES) == (
        hls.config.BACKENDS, hls.config.IO_TYPES, hls.config.STRATEGIES)  # fmt: skip
    args = build_parser().parse_args(["export", "runs/x", "--out", "p", "--backend", "vivado"])
    assert args.backend == "Vivado"  # any case, as hls.config accepts it


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and re.fullmatch(r"csq-hw \d+\.\d+\.\d+\S*\n", capsys.readouterr().out)


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["trian"], "unknown command 'trian'; did you mean 'train'?"),
        (["train", "--model", "digits-mpl", "--epochs", "1"], "did you mean 'digits-mlp'?"),
        (["train", "--dataset", "mnist1", "--epochs", "1"], "did you mean 'mnist1d'?"),
        (["cost", "--model", "jet-mlp", "--bits", "6", "--cost", "bpos"], "did you mean 'bops'?"),
    ],
)
def test_did_you_mean(argv, words, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1  # one line


def test_did_you_mean_in_toml_keys(tmp_path):
    bad = tmp_path / "c.toml"
    bad.write_text("[train]\nepoch = 3\n")
    with pytest.raises(UserError, match=r"unknown key 'epoch' in \[train\]; did you mean 'epochs'\?"):
        load_config(bad)
    bad.write_text("[model]\nname = 'digits-mlp'\n[data]\nmax_bits = 4\n")
    with pytest.raises(UserError, match=r"unknown key 'max_bits' in \[data\]; it belongs under \[quant\]"):
        load_config(bad)


def _non_default_values() -> dict[str, object]:
    """A value for every option that differs from its default (lists and dicts included)."""
    values: dict[str, object] = {}
    for o in config_options():
        kind = o.type.replace(" ", "").removesuffix("|None")
        if o.choices:
            values[o.flat] = next(c for c in o.choices if c != o.default)
        elif kind == "bool":
            values[o.flat] = not o.default
        elif kind == "int":
            values[o.flat] = (o.default or 0) + 1
        elif kind == "float":
            values[o.flat] = (o.default or 0.0) + 0.25
        elif kind.startswith("dict"):
            values[o.flat] = {"channels": [4, 8], "deep": {"on": True, "names": ["a", "b"]}, "scale": 0.5}
        elif kind == "int|str":
            values[o.flat] = "search" if o.default != "search" else 4
        else:
            values[o.flat] = f"{o.default or 'x'}-other"
    # keep the combination valid: a fixed act_bits with qat, a ticket inside the epochs, the CSQ method, Adam (the
    # bit-plane memory options need it)
    values.update(optimizer="adam")
    values.update(act_bits=6, act_max_bits=8, act_min_bits=3, uniform=False, qat=True, ticket_epoch=5, epochs=31,
                  settle_epochs=2, initial_temperature=1.5, budget="lut=12345", model="mlp:64,32",
                  dataset="npz:/data/\x01odd\tname \"quoted\".npz", data_dir="C:\\data\\n")  # fmt: skip
    return values


def test_toml_round_trip_of_every_field(tmp_path):
    values = _non_default_values()
    cfg = TrainConfig.from_flat(**values)
    assert cfg.to_flat() == {o.flat: values[o.flat] for o in config_options()}  # every field was set
    path = tmp_path / "config.toml"
    path.write_text(config_to_toml(cfg))  # control characters and quotes in paths must stay valid TOML
    assert load_config(path) == cfg
    assert load_config(path).model.kwargs["deep"]["names"] == ["a", "b"]  # a list inside a table, not a string


def test_the_0_1_layout_is_still_read(tmp_path):
    old = tmp_path / "old.toml"
    old.write_text("[model]\nname = 'digits-mlp'\nmax_bits = 6\nact_bits = 'search'\nqat = false\n"
                   "[budget]\nspec = 'size=u3'\n")  # fmt: skip
    cfg = load_config(old)
    assert (cfg.quant.max_bits, cfg.quant.act_bits, cfg.budget.spec) == (6, "search", "size=u3")


def test_flags_override_the_toml(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[train]\nepochs = 7\nlr = 0.5\n")
    parser = argparse.ArgumentParser()
    names = add_config_arguments(parser)
    args = parser.parse_args(["--lr", "0.25", "--no-qat", "--model-kwargs", '{"channels": [4, 8]}'])
    cfg = load_config(path, **{n: getattr(args, n) for n in names})
    assert (cfg.train.epochs, cfg.train.lr, cfg.train.qat, cfg.model.kwargs) == (7, 0.25, False, {"channels": [4, 8]})


def test_sweep_backend_is_now_executor(capsys):
    args = build_parser().parse_args(["sweep", "--backend", "local"])
    assert args.old_executor == "local" and args.executor is None  # still read, with a warning when it runs


def test_a_0_1_run_directory_config_is_still_read():
    # written by csq-hw 0.1 (`csq-hw demo`, commit 649f5d3): every option, quantization keys under [model]
    cfg = load_config(Path(__file__).parent / "fixtures" / "config_v0_1.toml")
    assert (cfg.train.epochs, cfg.train.pretrain_epochs, cfg.quant.mask_init, cfg.budget.spec) == (
        20,
        10,
        0.5,
        "size=u3",
    )


def test_a_truncated_resolved_config_is_refused(tmp_path):
    text = config_to_toml(TrainConfig())
    cut = tmp_path / "config.toml"
    cut.write_text(text[: text.index("[budget]")])  # valid TOML, but a csq-hw config.toml always lists [budget]
    with pytest.raises(UserError, match=r"lacks \[budget\] spec, \[budget\] strength: it is truncated"):
        load_config(cut)
