"""Model specs (fastinit.model.spec): parsing TOML/JSON, default rules, validation errors."""

import json

import ml_dtypes
import numpy as np
import pytest

from fastinit import model, normal_
from fastinit.model import load
from fastinit.model.spec import SpecError, from_dict

TOML = """
seed = 7
dtype = "bf16"

[defaults]
"*norm.weight" = "ones"
"*.bias" = "zeros"
"*.weight" = "normal(std=0.02)"

[[tensors]]
name = "h.0.fc.weight"
shape = [64, 32]

[[tensors]]
name = "h.0.fc.bias"
shape = [64]
dtype = "f32"

[[tensors]]
name = "h.0.norm.weight"
shape = [32]

[[tensors]]
name = "h.0.proj.weight"
shape = [32, 64]
scheme = "kaiming_uniform(a=2.236)"

[metadata]
note = "test"
"""


def base():
    return {"seed": 1, "tensors": [{"name": "w", "shape": [4, 4], "scheme": "normal(std=0.02)"}]}


def test_toml_spec(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text(TOML)
    spec = load(str(path))
    assert spec.seed == 7 and spec.metadata == {"note": "test"}
    got = {t.name: (t.shape, t.dtype, t.scheme) for t in spec.tensors}
    assert got == {"h.0.fc.weight": ((64, 32), "bfloat16", "normal(std=0.02)"),
                   "h.0.fc.bias": ((64,), "float32", "zeros"),
                   "h.0.norm.weight": ((32,), "bfloat16", "ones"),     # first match, not "*.weight"
                   "h.0.proj.weight": ((32, 64), "bfloat16", "kaiming_uniform(a=2.236)")}
    t = spec["h.0.fc.weight"]
    assert t.np_dtype == np.dtype(ml_dtypes.bfloat16) and t.nbytes == 64 * 32 * 2
    a = t.fill(np.empty(t.shape, t.np_dtype), spec.seed)
    b = normal_(np.empty(t.shape, t.np_dtype), std=0.02, seed=7, stream="h.0.fc.weight")
    assert a.tobytes() == b.tobytes()


def test_json_spec_same_as_dict(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps(base()))
    assert load(str(path)) == from_dict(base())


@pytest.mark.parametrize("alias, canonical", [("bf16", "bfloat16"), ("bfloat16", "bfloat16"), ("f16", "float16"),
                                              ("float16", "float16"), ("f32", "float32"), ("float32", "float32"),
                                              ("f64", "float64"), ("BF16", "bfloat16")])
def test_dtype_aliases(alias, canonical):
    assert from_dict({**base(), "dtype": alias}).tensors[0].dtype == canonical
    assert from_dict(base()).with_options(dtype=alias).tensors[0].dtype == canonical


@pytest.mark.parametrize("change, match", [
    (lambda d: d["tensors"][0].update(scheme="nromal"), r"tensor 'w': field 'scheme': unknown scheme 'nromal'"),
    (lambda d: d["tensors"][0].update(scheme="normal(sd=1)"), r"tensor 'w': field 'scheme'.*no parameter 'sd'"),
    (lambda d: d["tensors"][0].update(shape=[4, -1]), r"tensor 'w': field 'shape'"),
    (lambda d: d["tensors"][0].update(shape="4x4"), r"tensor 'w': field 'shape'"),
    (lambda d: d["tensors"][0].update(dtype="int8"), r"tensor 'w': field 'dtype': unknown dtype 'int8'"),
    (lambda d: d["tensors"].append(dict(d["tensors"][0])), r"tensor 'w': duplicate name"),
    (lambda d: d["tensors"][0].pop("scheme"), r"tensor 'w': field 'scheme' is missing"),
    (lambda d: d["tensors"][0].pop("shape"), r"tensor 'w': field 'shape' is missing"),
    (lambda d: d["tensors"][0].update(shap=[1]), r"tensor 'w': unknown field\(s\) shap"),
    (lambda d: d["tensors"][0].update(name=""), r"tensors\[0\]: field 'name'"),
    (lambda d: d.update(sed=1), r"unknown field\(s\) sed"),
    (lambda d: d.update(seed=-1), r"seed: must be an int"),
    (lambda d: d.update(dtype="f8"), r"field 'dtype': unknown dtype 'f8'"),
    (lambda d: d.update(tensors=[]), r"field 'tensors'"),
    (lambda d: d.update(defaults={"*": "zeross"}), r"defaults\['\*'\]: unknown scheme 'zeross'"),
    (lambda d: d.update(metadata={"a": 1}), r"field 'metadata'"),
])
def test_errors_name_the_field(change, match):
    data = base()
    change(data)
    with pytest.raises(SpecError, match=match):
        from_dict(data)


def test_file_errors(tmp_path):
    with pytest.raises(SpecError, match="no such file, and not a preset name"):
        load(str(tmp_path / "missing.toml"))
    bad = tmp_path / "bad.toml"
    bad.write_text("seed = = 1")
    with pytest.raises(SpecError, match="cannot parse as TOML or JSON"):
        load(str(bad))


def test_fill_error_names_tensor():
    spec = from_dict({"seed": 0, "tensors": [{"name": "e", "shape": [4], "scheme": "eye"}]})
    with pytest.raises(SpecError, match=r"tensor 'e': scheme 'eye'"):
        spec["e"].fill(np.empty(4, np.float32), 0)


def test_subset_and_options():
    spec = from_dict(base()).with_options(seed=5)
    assert spec.seed == 5 and isinstance(spec, model.ModelSpec)
    assert spec.subset([]).tensors == ()


def test_size_no_file_can_hold_is_refused_at_load_and_with_options():
    from fastinit.model.spec import MAX_BYTES

    fits = {"seed": 0, "dtype": "f16", "tensors": [{"name": "w", "shape": [2 ** 31, 2 ** 30], "scheme": "ones"}]}
    assert from_dict(fits).nbytes == 2 ** 62 <= MAX_BYTES       # plan-only specs this large still load
    with pytest.raises(SpecError, match=r"tensor 'w': field 'shape': \[2147483648, 1073741824\] of float32 is "
                                        r"9,223,372,036,854,775,808 bytes; a file holds at most 9,223,372,035,"):
        from_dict(fits).with_options(dtype="f32")              # --dtype: the same rule
    with pytest.raises(SpecError, match=r"tensor 'w': field 'shape': \[0, 9223372036854775808\] has a dimension "
                                        r"of 2\*\*63 or more"):
        from_dict({**fits, "tensors": [{"name": "w", "shape": [0, 2 ** 63], "scheme": "ones"}]})
