"""Cost tables: the built-in figures and the validation of user table files."""

import json

import pytest

from eventsim.energy.tables import (
    BUILTIN_TABLES,
    DEFAULT_TABLE,
    get_table,
    load_table_file,
    table_from_dict,
)
from eventsim.errors import ConfigError

GOOD = {"name": "mychip", "citation": "A. Author, Some Venue 2024", "process": "22 nm",
        "ac_pJ": 0.5, "mac_pJ": 2.0}


def test_builtin_horowitz_figures():
    # Horowitz ISSCC 2014, 45 nm: MAC = multiply + add; fp32 3.7 + 0.9, fp16 1.1 + 0.4,
    # int8 0.2 + 0.03, int32 3.1 + 0.1
    want = {"fp32": (4.6, 0.9), "fp16": (1.5, 0.4), "int8": (0.23, 0.03), "int32": (3.2, 0.1)}
    for bits, (mac, ac) in want.items():
        t = BUILTIN_TABLES[f"horowitz45-{bits}"]
        assert (t.mac_pJ, t.ac_pJ) == (pytest.approx(mac), ac)
        assert "Horowitz" in t.citation and "ISSCC" in t.citation and t.process.startswith("45 nm")
        assert t.memory_pJ_per_byte == 1.25
    assert DEFAULT_TABLE == "horowitz45-fp32" and get_table(None).name == DEFAULT_TABLE
    assert BUILTIN_TABLES["loihi-2018"].ac_pJ == 23.6 and BUILTIN_TABLES["loihi-2018"].mac_pJ is None
    assert BUILTIN_TABLES["truenorth-2014"].ac_pJ == 26.0
    for t in BUILTIN_TABLES.values():
        assert t.citation and t.process and t.notes


def test_toml_and_json_tables_load(tmp_path):
    toml = tmp_path / "chip.toml"
    toml.write_text('name = "mychip"\ncitation = "A. Author, Some Venue 2024"\nprocess = "22 nm"\n'
                    'ac_pJ = 0.5\nmac_pJ = 2\nmemory_pJ_per_byte = 0.1\nweight_bytes = 1\n')
    t = get_table(str(toml))
    assert (t.name, t.ac_pJ, t.mac_pJ, t.memory_pJ_per_byte, t.weight_bytes) == ("mychip", 0.5, 2.0, 0.1, 1.0)
    js = tmp_path / "chip.json"
    js.write_text(json.dumps(GOOD))
    assert load_table_file(js) == table_from_dict(GOOD)


@pytest.mark.parametrize("field", ["name", "citation", "process", "ac_pJ", "mac_pJ"])
def test_missing_field_is_named(tmp_path, field):
    path = tmp_path / "t.json"
    path.write_text(json.dumps({k: v for k, v in GOOD.items() if k != field}))
    with pytest.raises(ConfigError, match=rf"{path}: missing field '{field}'"):
        get_table(str(path))


@pytest.mark.parametrize("value", ["-0.1", "NaN", "Infinity", '"cheap"', "true"])
def test_bad_energy_is_rejected(tmp_path, value):
    path = tmp_path / "t.json"
    path.write_text(json.dumps(GOOD).replace('"ac_pJ": 0.5', f'"ac_pJ": {value}'))
    with pytest.raises(ConfigError, match=rf"{path}: field 'ac_pJ' must be"):
        load_table_file(path)


def test_negative_and_nonfinite_in_toml(tmp_path):
    path = tmp_path / "t.toml"
    base = 'name = "x"\ncitation = "c"\nprocess = "p"\nac_pJ = 1\n'
    for bad in ("mac_pJ = -4.6", "mac_pJ = inf", "mac_pJ = nan", "mac_pJ = 1e308", "mac_pJ = 1e7"):
        path.write_text(base + bad + "\n")
        msg = r"t.toml: field 'mac_pJ' must be a finite energy in \[0, 1e\+06\]"
        with pytest.raises(ConfigError, match=msg):
            load_table_file(path)


def test_other_bad_tables(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps({**GOOD, "add_pJ": 1}))
    with pytest.raises(ConfigError, match="unknown field 'add_pJ'"):
        load_table_file(path)
    path.write_text(json.dumps({**GOOD, "memory_pJ_per_byte": 1}))
    with pytest.raises(ConfigError, match="go together"):
        load_table_file(path)
    path.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="expected a table of fields"):
        load_table_file(path)
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_table_file(path)
    bad_toml = tmp_path / "t.toml"
    bad_toml.write_text("name = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_table_file(bad_toml)
    txt = tmp_path / "t.txt"
    txt.write_text("x")
    with pytest.raises(ConfigError, match="must end in .toml or .json"):
        get_table(str(txt))
    with pytest.raises(ConfigError, match="absent.toml: no such file"):
        get_table(str(tmp_path / "absent.toml"))
    with pytest.raises(ConfigError, match="unknown energy table 'nope'.*horowitz45-fp32"):
        get_table("nope")
