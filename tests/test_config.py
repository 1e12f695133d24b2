from __future__ import annotations

import dataclasses
from typing import Literal

import pytest
import yaml

from fluxgrid.config import dump_config, from_dict, load_config, to_dict
from fluxgrid.errors import ConfigError
from fluxgrid.models import Registry, get_model


# small configs in the shape of the stage configs: the machinery is what is tested here
@dataclasses.dataclass(frozen=True)
class QCConfig:
    qc_threshold: float = 0.7
    min_valid_fraction: float = 0.6
    drop_negative_gpp: bool = True
    targets: tuple[str, ...] = ("nee", "gpp_nt")


@dataclasses.dataclass(frozen=True)
class ResampleConfig:
    min_coverage: float = 0.5
    sums: tuple[str, ...] = ("p",)


@dataclasses.dataclass(frozen=True)
class IngestConfig:
    sources: tuple[str, ...] = ()
    to: Literal["native", "daily", "monthly"] = "daily"
    resample: ResampleConfig = ResampleConfig()
    qc: QCConfig | None = None


def test_from_dict_builds_nested_frozen_config():
    cfg = from_dict(
        IngestConfig,
        {
            "sources": ["a.csv"],
            "to": "monthly",
            "qc": {"qc_threshold": 0.8},
            "resample": {"sums": ["p"]},
        },
    )
    assert cfg.sources == ("a.csv",) and cfg.to == "monthly"
    assert cfg.qc == QCConfig(qc_threshold=0.8)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.to = "daily"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"qc_treshold": 0.7}, "unknown key 'qc_treshold'"),
        ({"qc_threshold": "high"}, "expected a number"),
        ({"drop_negative_gpp": 1}, "expected true or false"),
        ({"targets": "nee"}, "expected a list"),
    ],
)
def test_from_dict_is_strict(data, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(QCConfig, data)


def test_literal_and_nested_errors_name_the_key_path():
    with pytest.raises(ConfigError, match=r"IngestConfig.to: 'weekly' is not one of"):
        from_dict(IngestConfig, {"to": "weekly"})
    with pytest.raises(ConfigError, match=r"IngestConfig.qc: unknown key 'x'"):
        from_dict(IngestConfig, {"qc": {"x": 1}})


def test_yaml_round_trip(tmp_path):
    cfg = from_dict(IngestConfig, {"sources": ["x"], "qc": {}})
    path = dump_config(cfg, tmp_path / "run" / "config.yaml")
    assert yaml.safe_load(path.read_text())["sources"] == ["x"]
    assert load_config(path, IngestConfig) == cfg
    assert to_dict(cfg)["resample"]["sums"] == ["p"]


def test_load_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "none.yaml", QCConfig)
    bad = tmp_path / "bad.yaml"
    bad.write_text("qc: {qc_threshold: 0.5, oops: 1}\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml.*unknown key 'oops'"):
        load_config(bad, QCConfig, section="qc")


def test_literal_type_supported():
    @dataclasses.dataclass(frozen=True)
    class C:
        mode: Literal["a", "b"] = "a"

    assert from_dict(C, {"mode": "b"}).mode == "b"


def test_registry_lists_known_names_on_typo():
    reg = Registry("widget")
    reg.register("alpha")(object)
    with pytest.raises(Exception, match="unknown widget 'alpah'; known widgets: alpha"):
        reg.get("alpah")


def test_unknown_model_name_lists_registered_models():
    with pytest.raises(Exception, match="unknown model 'nonexistent'"):
        get_model("nonexistent")


def test_every_unknown_key_is_reported_at_once():
    from fluxgrid.config import ExperimentConfig

    data = {"epoch": 1, "data": {"sorce": "demo"}, "train": {"l_r": 0.1, "epoch": 2}}
    with pytest.raises(ConfigError) as err:
        from_dict(ExperimentConfig, data)
    message = str(err.value)
    assert "ExperimentConfig: unknown key 'epoch'" in message
    assert "ExperimentConfig.data: unknown key 'sorce'" in message
    assert "ExperimentConfig.train: unknown keys 'epoch', 'l_r'" in message


@pytest.mark.parametrize(
    ("name", "text", "match"),
    [
        ("empty.yaml", "", "missing data.source, data.drivers, data.target"),
        (
            "recipe.yaml",
            "recipe: train\nconfig:\n  data: {source: demo, target: nee}\n",
            r"missing data\.drivers, model\.name",
        ),
    ],
)
def test_empty_experiment_file_is_refused(tmp_path, name, text, match):
    pytest.importorskip("torch")
    from fluxgrid.training import load_experiment

    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_experiment(path)


@pytest.mark.parametrize(
    ("cls", "data", "match"),
    [
        ("DataConfig", {"qc_threshold": 7}, r"DataConfig.qc_threshold: 7.0 is out of range"),
        ("DataConfig", {"min_valid_fraction": -3}, r"min_valid_fraction: -3.0 .*\[0, 1\]"),
        ("DriversConfig", {"min_coverage": 1.5}, r"DriversConfig.min_coverage: 1.5"),
        ("TrainConfig", {"weight_decay": -1e-4}, r"weight_decay: -0.0001 .*\[0, inf\]"),
    ],
)
def test_out_of_range_values_are_refused_at_load_time(cls, data, match):
    import fluxgrid.config as config

    with pytest.raises(ConfigError, match=match):
        from_dict(getattr(config, cls), data)
    assert from_dict(getattr(config, cls), {})  # the defaults are in range


_YEAR_RANGES = {"method": "year_ranges", "train_years": [2007, 2010], "test_years": [2011, 2012]}


@pytest.mark.parametrize(
    ("over", "match"),
    [
        ({"val_years": [2011, 2012]}, r"val_years \[2011, 2012\] overlap test_years"),
        ({"val_years": [2010, 2009]}, r"SplitConfig.val_years: \[2010, 2009\]; expected \[first"),
        ({"val_years": [2010, 2010], "validation": "tail"}, r"validation \('tail'\) .* not read"),
        ({"val_years": [2010, 2010], "val_fraction": 0.3}, r"val_fraction \(0.3\) .* not read"),
        ({"train_years": [2007, 2011]}, r"train_years \[2007, 2011\] and test_years .* overlap"),
    ],
)
def test_split_val_years_checked_at_load_time(over, match):
    from fluxgrid.config import SplitConfig

    with pytest.raises(ConfigError, match=match):
        from_dict(SplitConfig, {**_YEAR_RANGES, **over})
    cfg = from_dict(SplitConfig, {**_YEAR_RANGES, "val_years": [2009, 2010]})
    assert cfg.val_years == (2009, 2010)
    with pytest.raises(ConfigError, match="'val_years' is not read by method 'random_years'"):
        from_dict(SplitConfig, {"val_years": [2009, 2010]})
