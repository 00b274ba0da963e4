"""validate's pieces: conversions between user arrays and device bytes, the comparison
rules (bit-exact integers, tolerances for floats), the report when a device dies
midway, and the JUnit XML. Oracles: hand-made arrays and hand-derived values."""
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from edgesdk.errors import DataError
from edgesdk.hil import buildinfo, protocol as P
from edgesdk.hil.testbuild import write_affine_build
from edgesdk.hil.validate import compare, junit_xml, summary_table, validate

from edgesdk.hil.firmware import host_cc

needs_cc = pytest.mark.skipif(host_cc() is None, reason="not installed: a host C compiler (gcc)")


def test_nhwc_device_layout_roundtrip():
    spec = {"name": "x", "shape": [1, 3, 2, 2], "dtype": "s8", "layout": "NHWC"}
    x = np.arange(12, dtype=np.int8).reshape(1, 3, 2, 2)       # NCHW: channel c holds 4c..4c+3
    raw = buildinfo.to_device(x, spec)
    assert list(raw[:6]) == [0, 4, 8, 1, 5, 9]                  # pixel (0,0) channels 0..2, then pixel (0,1)
    np.testing.assert_array_equal(buildinfo.from_device(raw, spec), x)


def test_float_data_is_quantized_with_the_manifest_params():
    spec = {"name": "x", "shape": [4], "dtype": "s8", "quant": {"scale": [0.1], "zero_point": [-10]}}
    raw = buildinfo.to_device(np.array([0.0, 0.26, -20.0, 30.0], np.float32), spec)
    assert np.frombuffer(raw, np.int8).tolist() == [-10, -7, -128, 127]
    with pytest.raises(DataError, match="5 values but the model wants shape"):
        buildinfo.to_device(np.zeros(5, np.float32), spec)
    with pytest.raises(DataError, match="without quantization parameters"):
        buildinfo.to_device(np.zeros(4, np.float32), {"name": "x", "shape": [4], "dtype": "s8"})


def test_compare_rules():
    s8 = {"dtype": "s8"}
    a = np.array([1, 2, 3], np.int8)
    assert compare("y", s8, a, a.copy()).passed
    c = compare("y", s8, a, np.array([1, 2, 4], np.int8))
    assert not c.passed and c.mismatches == 1 and c.max_abs_diff == 1       # one LSB is a failure
    f32 = {"dtype": "f32"}
    r = np.array([1.0, -2.0, 1000.0], np.float32)
    assert compare("y", f32, r * (1 + 5e-5), r).passed
    assert not compare("y", f32, r + np.array([0, 0, 1.0], np.float32), r).passed   # 1e-3 relative
    f16 = {"dtype": "f16"}
    assert compare("y", f16, (r * 1.004).astype(np.float16), r).passed
    assert not compare("y", f16, (r * 1.05).astype(np.float16), r).passed
    nan = compare("y", f32, np.array([np.nan], np.float32), np.array([1.0], np.float32))
    assert not nan.passed                                                   # NaN never passes
    q = {"dtype": "s8", "quant": {"scale": [0.5], "zero_point": [0]}}       # device int, reference float
    assert compare("y", q, np.array([2], np.int8), np.array([1.2], np.float32)).passed
    assert not compare("y", q, np.array([4], np.int8), np.array([1.2], np.float32)).passed
    assert not compare("y", s8, a, np.zeros(4, np.int8)).passed            # size mismatch


class KillOnRun:
    """Kills the device process when the `n`th RUN frame is sent."""

    def __init__(self, inner, n):
        self.inner, self.n, self.name, self.runs = inner, n, inner.name, 0

    def write(self, data):
        self.inner.write(data)
        f = P.unpack_frame(P.cobs_decode(data.strip(b"\x00")))
        if f is not None and f.type == P.RUN:
            self.runs += 1
            if self.runs == self.n:
                self.inner.proc.kill()

    def read(self, timeout):
        return self.inner.read(timeout)

    def close(self):
        self.inner.close()


@needs_cc
def test_device_dying_midway_is_reported_not_hidden(tmp_path):
    build = write_affine_build(tmp_path / "b", board="host")
    rep = validate(build, cases=5, transport_wrapper=lambda t: KillOnRun(t, 2))
    assert not rep.passed and rep.n_passed == 1 and rep.not_run == 3
    assert "port vanished" in rep.cases[1].error
    table = summary_table(rep)
    assert "1/5 cases matching" in table and "3 not run" in table and "ERROR" in table
    suite = ET.fromstring(junit_xml(rep))
    assert (suite.get("tests"), suite.get("errors"), suite.get("skipped"), suite.get("failures")) == ("5", "1", "3", "0")
    assert [tc.get("name") for tc in suite.iter("testcase")] == [f"case_{i}" for i in range(5)]


@needs_cc
def test_validate_with_a_data_file(tmp_path):
    build = write_affine_build(tmp_path / "b", board="host")
    x = np.linspace(-1, 1, 3 * 2000, dtype=np.float32).reshape(3, 1, 1, 40, 50) * 200
    np.save(tmp_path / "x.npy", x)
    rep = validate(build, cases=10, data=tmp_path / "x.npy")   # only 3 cases in the file
    assert rep.passed and len(rep.cases) == 3
