"""ServingLimits: defaults, the served model's config round trip, and the environment variables overriding it."""

import json
from dataclasses import fields

import pytest

from pseudocolor.lightning_modules.deploy.serving import MAX_PIXELS_ENV, write_serving_config
from pseudocolor.lightning_modules.deploy.serving_limits import UNITS, ServingLimits, env_name, over_limit


def test_every_limit_has_words_and_a_variable_named_after_it():
    names = [item.name for item in fields(ServingLimits)]
    assert sorted(UNITS) == sorted(names)
    assert env_name("max_pixels") == MAX_PIXELS_ENV == "PSEUDOCOLOR_MAX_PIXELS"
    assert env_name("max_request_pixels") == "PSEUDOCOLOR_MAX_REQUEST_PIXELS"


def test_the_config_round_trips_and_missing_keys_take_the_defaults(tmp_path):
    limits = ServingLimits(max_rows=7, max_hints=9)
    path = write_serving_config(tmp_path / "config.json", limits)
    assert ServingLimits.from_config(json.loads(path.read_text()), environ={}) == limits
    assert ServingLimits.from_config({"max_pixels": 100}, environ={}) == ServingLimits(max_pixels=100)


def test_register_takes_a_flag_per_limit_and_refuses_a_bad_one(capsys):
    from pseudocolor.experiments.commands.register import _parser, main

    args = _parser().parse_args(["--max-rows", "7", "--max-hints", "9"])
    assert (args.max_rows, args.max_hints, args.max_pixels) == (7, 9, ServingLimits().max_pixels)
    assert main(["--max-regions", "0"]) == 2
    assert "max_regions" in capsys.readouterr().err


def test_each_variable_overrides_its_limit_only():
    config = ServingLimits().to_config()
    for item in fields(ServingLimits):
        limits = ServingLimits.from_config(config, environ={env_name(item.name): "12345", "UNRELATED": "1"})
        assert getattr(limits, item.name) == 12345
        assert limits == ServingLimits(**{**config, item.name: 12345})
    assert ServingLimits.from_config(config, environ={env_name("max_rows"): " "}) == ServingLimits()  # blank: unset


@pytest.mark.parametrize(
    ("config", "environ", "message"),
    [
        ({"max_rows": 0}, {}, "max_rows must be a positive integer, got 0"),
        ({"max_rows": "8"}, {}, "max_rows must be a positive integer, got '8'"),
        ({"max_colour": 3}, {}, "unknown limits ['max_colour']"),
        ({}, {"PSEUDOCOLOR_MAX_ROWS": "lots"}, "PSEUDOCOLOR_MAX_ROWS='lots' is not an integer"),
        ({}, {"PSEUDOCOLOR_MAX_HINTS": "-5"}, "PSEUDOCOLOR_MAX_HINTS='-5' must be positive"),
    ],
)
def test_bad_limits_are_refused_naming_the_key_or_variable(config, environ, message):
    with pytest.raises(ValueError) as error:
        ServingLimits.from_config(config, environ=environ)
    assert message in str(error.value)


def test_the_message_names_where_the_value_the_limit_and_the_variable():
    message = over_limit("max_regions", ServingLimits(), "row 3 of column 'regions'", 200)
    assert message == (
        "row 3 of column 'regions': 200 regions exceed the limit of 16 regions per row (max_regions); "
        "send fewer regions, or raise the limit with PSEUDOCOLOR_MAX_REGIONS when serving"
    )
