"""End-to-end tests of the ``regionloss score`` command (console script, ``python -m`` and
``regionloss.cli.main``): every format, every error path (message naming the flag, exit
code), reports committed all together or not at all, progress display, Ctrl-C, ``--workers``
and ``--scheduler`` equal to the serial run, and CSV numbers equal to the metric functions
called directly."""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from regionloss import cli
from regionloss.metrics import confusion_matrix, score_confusion

from ._data import C, EXAMPLES, nested_dataset, read_csv, write_mask

dataset = nested_dataset


def run_main(argv, capsys):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(err, *fragments):
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("regionloss score: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


# --------------------------------------------------------------------------- console script


def _console(args, **kw):
    exe = shutil.which("regionloss")
    cmd = [exe] if exe else [sys.executable, "-m", "regionloss"]
    return subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True,
                          timeout=120, **kw)


@pytest.mark.parametrize("ext", [".npy", ".npz", ".png", ".tif", ".tiff", ".nii", ".nii.gz"])
def test_console_script_every_format(tmp_path, ext):
    pred, ref, pairs = dataset(tmp_path, ext=ext, n=3)
    out_csv = tmp_path / "cases.csv"
    proc = _console(["score", pred, ref, "--num-classes", C, "--per-case", out_csv])
    assert proc.returncode == 0, proc.stderr
    assert "3 cases, 4 classes" in proc.stdout and "macro mean" in proc.stdout
    assert "\r" not in proc.stderr  # stderr is a pipe: no progress bar
    rows = read_csv(out_csv)
    assert len(rows) == 3 * C
    for row in rows:
        p, t = pairs[row["case"]]
        c = int(row["class_id"])
        want = score_confusion(confusion_matrix(p, t, num_classes=C), metric="dice")[c]
        assert float(row["dice"]) == float(want)


def test_python_dash_m(tmp_path):
    pred, ref, _ = dataset(tmp_path, n=2)
    proc = subprocess.run([sys.executable, "-m", "regionloss", "score", pred, ref, "-n", str(C),
                           "--quiet"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert "dice" in proc.stdout


def test_console_script_error_exit_code(tmp_path):
    pred, ref, _ = dataset(tmp_path, n=2)
    os.remove(os.path.join(pred, "sub1", "case1.npy"))
    proc = _console(["score", pred, ref, "--num-classes", C])
    assert proc.returncode == 1
    assert_one_line_error(proc.stderr, "reference(s) without a prediction", "sub1/case1",
                          "--missing empty")
    assert proc.stdout == ""


# --------------------------------------------------------------------------- numbers


def test_csv_numbers_equal_direct_calls(tmp_path, capsys):
    pred, ref, pairs = dataset(tmp_path, n=5)
    summary, per_case = tmp_path / "summary.csv", tmp_path / "cases.csv"
    code, out, err = run_main(["score", pred, ref, "-n", C, "-m", "dice,iou", "-m", "mcc",
                               "--ignore-index", 255, "-o", summary, "--per-case", per_case,
                               "--class-names", "bg,a,b,c"], capsys)
    assert code == 0, err
    names = sorted(pairs)
    matrices = {n: confusion_matrix(*pairs[n], num_classes=C, ignore_index=255) for n in names}
    for row in read_csv(per_case):
        m = matrices[row["case"]]
        c = int(row["class_id"])
        for metric in ("dice", "iou", "mcc"):
            want = float(score_confusion(m, metric=metric)[c])
            got = float(row[metric])
            assert (math.isnan(got) and math.isnan(want)) or got == want
        tp = int(m[c, c])
        assert int(row["tp"]) == tp
        assert int(row["fp"]) == int(m[:, c].sum()) - tp
        assert int(row["fn"]) == int(m[c, :].sum()) - tp
        assert int(row["tn"]) == int(m.sum()) - int(row["tp"]) - int(row["fp"]) - int(row["fn"])
    pooled = sum(matrices.values())
    rows = read_csv(summary)
    for row in rows:
        if row["class"] == "macro mean":
            continue
        c = int(row["class_id"])
        per = np.array([float(score_confusion(matrices[n], metric=row["metric"])[c])
                        for n in names])
        assert float(row["pooled"]) == float(score_confusion(pooled, metric=row["metric"])[c])
        assert float(row["mean"]) == pytest.approx(np.nanmean(per), rel=1e-12)
        assert float(row["std"]) == pytest.approx(np.nanstd(per, ddof=1), rel=1e-12)
        assert int(row["cases"]) == int(np.sum(~np.isnan(per)))
    assert [r["class"] for r in rows[:5]] == ["bg", "a", "b", "c", "macro mean"]


@pytest.mark.parametrize("ext,check", [
    (".json", lambda text: json.loads(text)["num_cases"] == 3),
    (".md", lambda text: text.startswith("| metric | class | mean | std | pooled | cases |")),
    (".csv", lambda text: text.startswith("metric,class_id,class,mean,std,pooled,cases")),
])
def test_output_format_by_extension(tmp_path, capsys, ext, check):
    pred, ref, _ = dataset(tmp_path, n=3)
    out = tmp_path / f"report{ext}"
    code, stdout, err = run_main(["score", pred, ref, "-n", C, "-o", out], capsys)
    assert code == 0, err
    assert check(out.read_text())
    assert f"wrote {out}" in err


def test_no_background_and_options(tmp_path, capsys):
    pred, ref, pairs = dataset(tmp_path, n=2)
    out = tmp_path / "r.json"
    code, stdout, err = run_main(["score", pred, ref, "-n", C, "--no-background",
                                  "-m", "tversky,fbeta", "--tversky-alpha", 0.1,
                                  "--tversky-beta", 0.9, "--fbeta-beta", 2,
                                  "--zero-division", 0, "-o", out, "-q"], capsys)
    assert code == 0, err
    data = json.loads(out.read_text())
    assert list(data["classes"]) == ["1", "2", "3"]
    name = sorted(pairs)[0]
    m = confusion_matrix(*pairs[name], num_classes=C)
    want = score_confusion(m, metric="tversky", alpha=0.1, beta=0.9, zero_division=0.0)
    assert data["cases"][0]["tversky"] == pytest.approx([float(v) for v in want[1:]], rel=0, abs=0)
    want = score_confusion(m, metric="fbeta", beta=2.0, zero_division=0.0)
    assert data["cases"][0]["fbeta"] == [float(v) for v in want[1:]]
    assert data["options"]["zero_division"] == 0.0


def test_boundary_metrics_with_nifti_spacing(tmp_path, capsys):
    pytest.importorskip("scipy")
    t = np.zeros((12, 10, 5), np.uint8)
    t[3:8, 2:7, 1:4] = 1
    p = np.roll(t, 2, axis=0)
    write_mask(tmp_path / "p" / "a.nii.gz", p, spacing=(0.5, 1.0, 2.0))
    write_mask(tmp_path / "r" / "a.nii.gz", t, spacing=(0.5, 1.0, 2.0))
    out = tmp_path / "cases.csv"
    code, stdout, err = run_main(["score", tmp_path / "p", tmp_path / "r", "-n", 2,
                                  "-m", "hd95,assd,nsd", "--tolerance", "0.5,1.1",
                                  "--per-case", out], capsys)
    assert code == 0, err
    rows = read_csv(out)
    # the shift is 2 voxels of 0.5 along axis 0: distances scale with the header's spacing
    assert float(rows[1]["hd95"]) == pytest.approx(1.0)
    code, stdout, err = run_main(["score", tmp_path / "p", tmp_path / "r", "-n", 2,
                                  "-m", "hd95", "--spacing", "1,1,1", "--per-case", out], capsys)
    assert code == 0, err
    assert float(read_csv(out)[1]["hd95"]) == pytest.approx(2.0)
    # a class predicted but absent from the reference: inf, or --empty-distance
    p2 = p.copy()
    p2[0, 0, 0] = 2
    write_mask(tmp_path / "p" / "a.nii.gz", p2, spacing=(0.5, 1.0, 2.0))
    for extra, want in (([], math.inf), (["--empty-distance", "99"], 99.0)):
        code, stdout, err = run_main(["score", tmp_path / "p", tmp_path / "r", "-n", 3,
                                      "-m", "hd95,assd", "--per-case", out, *extra], capsys)
        assert code == 0, err
        row = read_csv(out)[2]
        assert float(row["hd95"]) == want and float(row["assd"]) == want
    code, stdout, err = run_main(["score", tmp_path / "p", tmp_path / "r", "-n", 2,
                                  "-m", "nsd"], capsys)
    assert code == 2  # a bad command line, found before any file is read
    assert_one_line_error(err, "needs a tolerance")


# --------------------------------------------------------------------------- errors


def test_error_missing_prediction_and_missing_empty(tmp_path, capsys):
    pred, ref, pairs = dataset(tmp_path, n=3)
    os.remove(os.path.join(pred, "sub0", "case2.npy"))
    code, out, err = run_main(["score", pred, ref, "-n", C], capsys)
    assert code == 1 and out == ""
    assert_one_line_error(err, "1 reference(s) without a prediction", "sub0/case2")
    per_case = tmp_path / "cases.csv"
    code, out, err = run_main(["score", pred, ref, "-n", C, "--missing", "empty",
                               "--per-case", per_case], capsys)
    assert code == 0, err
    assert "note: 1 missing prediction(s) scored as empty masks: sub0/case2" in err
    rows = [r for r in read_csv(per_case) if r["case"] == "sub0/case2"]
    assert len(rows) == C and all(r["missing_prediction"] == "1" for r in rows)
    target = pairs["sub0/case2"][1]
    m = confusion_matrix(np.zeros_like(target), target, num_classes=C)
    assert [float(r["dice"]) for r in rows] == [float(v) for v in score_confusion(m, metric="dice")]


def test_error_prediction_without_reference(tmp_path, capsys):
    pred, ref, _ = dataset(tmp_path, n=2)
    write_mask(os.path.join(pred, "extra.npy"), np.zeros((16, 18), np.uint8))
    for extra in ([], ["--missing", "empty"]):
        code, out, err = run_main(["score", pred, ref, "-n", C, *extra], capsys)
        assert code == 1
        assert_one_line_error(err, "1 prediction(s) without a reference", "extra")


def test_error_shape_mismatch(tmp_path, capsys):
    pred, ref, _ = dataset(tmp_path, n=2)
    bad = write_mask(os.path.join(pred, "sub1", "case1.npy"), np.zeros((5, 6), np.uint8))
    code, out, err = run_main(["score", pred, ref, "-n", C], capsys)
    assert code == 1
    assert_one_line_error(err, "shape mismatch", bad, "(5, 6)",
                          os.path.join(ref, "sub1", "case1.npy"), "(16, 18)")


def test_error_label_out_of_range_and_non_integer(tmp_path, capsys):
    pred, ref, _ = dataset(tmp_path, n=2)
    bad = write_mask(os.path.join(ref, "sub0", "case0.npy"), np.full((16, 18), 7, np.uint8))
    code, out, err = run_main(["score", pred, ref, "-n", C], capsys)
    assert code == 1
    assert_one_line_error(err, f"reference {bad} holds label 7 at index (0, 0)",
                          "(288 such pixel(s)), outside [0, 4): raise --num-classes to at "
                          "least 8, or pass --ignore-index 7 if 7 marks reference pixels")
    bad = write_mask(os.path.join(ref, "sub0", "case0.npy"), np.full((16, 18), 1.5))
    code, out, err = run_main(["score", pred, ref, "-n", C], capsys)
    assert code == 1
    assert_one_line_error(err, bad, "non-integer label 1.5")


def test_error_truncated_file(tmp_path, capsys):
    pred, ref, _ = dataset(tmp_path, n=2, ext=".png")
    path = os.path.join(pred, "sub1", "case1.png")
    data = open(path, "rb").read()
    open(path, "wb").write(data[:40])
    code, out, err = run_main(["score", pred, ref, "-n", C], capsys)
    assert code == 1
    assert_one_line_error(err, f"cannot read {path}")


def test_error_missing_extra(tmp_path, capsys, monkeypatch):
    pred, ref, _ = dataset(tmp_path, n=1, ext=".tif")
    monkeypatch.setitem(sys.modules, "tifffile", None)
    code, out, err = run_main(["score", pred, ref, "-n", C], capsys)
    assert code == 1
    assert_one_line_error(err, "needs tifffile", "pip install 'regionloss[cli]'")


@pytest.mark.parametrize("argv,code_want,fragment", [
    (["score", "P", "T"], 2, "give --num-classes"),
    (["score", "P", "T", "-n", "0"], 2, "expected a positive integer"),
    (["score", "P", "T", "-n", "3", "--zero-division", "2"], 2, "--zero-division must be"),
    (["score", "P", "T", "-n", "3", "--backend", "tpu"], 2, "invalid choice"),
    (["score", "P", "T", "-n", "3", "-m", "dice,bogus"], 2, "unknown metric(s) bogus"),
    (["score", "P", "T", "-n", "3", "-o", "report.xlsx"], 2, "unknown report format '.xlsx'"),
    (["score", "P", "T", "-n", "3"], 1, "does not exist"),
    (["frobnicate"], 2, "invalid choice"),
])
def test_usage_errors(tmp_path, capsys, monkeypatch, argv, code_want, fragment):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(argv, capsys)
    assert code == code_want
    assert fragment in err
    if code_want == 1:
        assert_one_line_error(err, fragment)


def test_class_names_set_num_classes(tmp_path, capsys):
    pred, ref, _ = dataset(tmp_path, n=2)
    out = tmp_path / "r.csv"
    code, stdout, err = run_main(["score", pred, ref, "--class-names", "bg,a,b,c",
                                  "--no-background", "-o", out], capsys)
    assert code == 0, err
    rows = read_csv(out)
    assert [(r["class_id"], r["class"]) for r in rows[:4]] == [
        ("1", "a"), ("2", "b"), ("3", "c"), ("", "macro mean")]
    code, stdout, err = run_main(["score", pred, ref, "-n", C, "--class-names", "a,b,c",
                                  "--no-background", "-o", out], capsys)
    assert code == 0, err
    assert [r["class"] for r in read_csv(out)[:3]] == ["a", "b", "c"]


def test_help(capsys):
    code, out, err = run_main(["score", "--help"], capsys)
    assert code == 0
    for option in ("--num-classes", "--ignore-index", "--metrics", "--no-background",
                   "--class-names", "--zero-division", "--backend", "--output", "--per-case",
                   "--workers", "--scheduler", "--quiet", "--missing", "--spacing",
                   "--tolerance"):
        assert option in out


# --------------------------------------------------------------------------- atomic reports


def test_failing_run_leaves_existing_report_untouched(tmp_path, capsys):
    pred, ref, _ = dataset(tmp_path, n=3)
    report, per_case = tmp_path / "report.json", tmp_path / "cases.csv"
    report.write_text("previous report\n")
    per_case.write_text("previous cases\n")
    write_mask(os.path.join(pred, "sub0", "case2.npy"), np.full((16, 18), 9, np.uint8))
    code, out, err = run_main(["score", pred, ref, "-n", C, "-o", report,
                               "--per-case", per_case], capsys)
    assert code == 1
    assert report.read_text() == "previous report\n"
    assert per_case.read_text() == "previous cases\n"
    assert sorted(os.listdir(tmp_path)) == ["cases.csv", "pred", "ref", "report.json"]


def test_failure_while_writing_leaves_existing_report_untouched(tmp_path, capsys, monkeypatch):
    pred, ref, _ = dataset(tmp_path, n=2)
    report = tmp_path / "report.csv"
    report.write_text("previous report\n")

    def broken(self):
        raise OSError("No space left on device")

    from regionloss.scoring import ScoreReport

    monkeypatch.setattr(ScoreReport, "per_case_csv", broken)
    code, out, err = run_main(["score", pred, ref, "-n", C, "-o", report,
                               "--per-case", tmp_path / "cases.csv"], capsys)
    assert code == 1
    assert_one_line_error(err, "No space left on device")
    assert report.read_text() == "previous report\n"
    assert not (tmp_path / "cases.csv").exists()
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


def test_output_folder_must_exist_before_scoring(tmp_path, capsys):
    pred, ref, _ = dataset(tmp_path, n=1)
    code, out, err = run_main(["score", pred, ref, "-n", C, "-o", tmp_path / "no" / "r.csv"],
                              capsys)
    assert code == 1
    assert_one_line_error(err, "does not exist")


# --------------------------------------------------------------------------- progress


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_only_on_a_terminal_and_not_quiet(tmp_path, monkeypatch):
    pred, ref, _ = dataset(tmp_path, n=3)
    for quiet, want in (([], True), (["--quiet"], False)):
        fake = _Terminal()
        monkeypatch.setattr(sys, "stderr", fake)
        monkeypatch.setattr(sys, "stdout", io.StringIO())
        assert cli.main(["score", pred, ref, "-n", str(C), *quiet]) == 0
        assert ("\rscoring [" in fake.getvalue()) is want
        if want:
            assert "3/3" in fake.getvalue()


# --------------------------------------------------------------------------- scale-out


@pytest.mark.slow
def test_cli_workers_and_scheduler_equal_serial(tmp_path, capsys):
    distributed = pytest.importorskip("distributed")
    pred, ref, _ = dataset(tmp_path, n=8, ext=".png")
    outputs = {}
    code, serial_out, err = run_main(["score", pred, ref, "-n", C, "-m", "dice,iou,mcc",
                                      "--per-case", tmp_path / "serial.csv",
                                      "-o", tmp_path / "serial.json"], capsys)
    assert code == 0, err
    code, workers_out, err = run_main(["score", pred, ref, "-n", C, "-m", "dice,iou,mcc",
                                       "--workers", 2, "--per-case", tmp_path / "workers.csv",
                                       "-o", tmp_path / "workers.json"], capsys)
    assert code == 0, err
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  protocol="tcp://", host="127.0.0.1",
                                  dashboard_address=":0") as cluster:
        code, dask_out, err = run_main(["score", pred, ref, "-n", C, "-m", "dice,iou,mcc",
                                        "--scheduler", cluster.scheduler_address,
                                        "--per-case", tmp_path / "dask.csv",
                                        "-o", tmp_path / "dask.json"], capsys)
        assert code == 0, err
    for name in ("serial", "workers", "dask"):
        outputs[name] = ((tmp_path / f"{name}.csv").read_text(),
                         (tmp_path / f"{name}.json").read_text())
    assert outputs["serial"] == outputs["workers"] == outputs["dask"]
    assert serial_out == workers_out == dask_out


# --------------------------------------------------------------------------- sample data


def test_sample_dataset_run(tmp_path, capsys):
    data = os.path.join(EXAMPLES, "data")
    if not os.path.isdir(data):
        pytest.skip("examples/data not present")
    pytest.importorskip("PIL")
    out = tmp_path / "summary.md"
    code, stdout, err = run_main(["score", os.path.join(data, "prediction"),
                                  os.path.join(data, "reference"),
                                  "--class-names", "background,liver,kidney,tumour",
                                  "-o", out], capsys)
    assert code == 0, err
    assert stdout.startswith("8 cases, 4 classes")
    assert "tumour" in stdout and "macro mean" in stdout
    # the sample data is generated deterministically: regenerating it gives the same files
    sys.path.insert(0, EXAMPLES)
    try:
        import make_sample_data
    finally:
        sys.path.remove(EXAMPLES)
    make_sample_data.main(str(tmp_path / "regen"))
    for sub in ("prediction", "reference"):
        for name in sorted(os.listdir(os.path.join(data, sub))):
            from regionloss.scoring.readers import read_mask

            np.testing.assert_array_equal(
                read_mask(os.path.join(data, sub, name)).array,
                read_mask(str(tmp_path / "regen" / sub / name)).array)


# --------------------------------------------------------------------------- review fixes


@pytest.mark.parametrize("extra,fragment", [
    (["-m", "dice,bogus"], "unknown metric(s) bogus; choose from dice, iou"),
    (["-m", "dice", "-m", "HD95,nope"], "unknown metric(s) nope"),
    (["-m", "dice", "--tversky-alpha", "0.2"], "--tversky-alpha needs the tversky metric"),
    (["--tversky-beta", "0.2"], "--tversky-beta needs the tversky metric"),
    (["-m", "dice,tversky", "--fbeta-beta", "2"], "--fbeta-beta needs the fbeta metric"),
    (["-o", "r.csv", "--per-case", "r.csv"], "--output and --per-case are the same file"),
    (["-o", "r.csv", "--per-case", "./sub/../r.csv"], "--output and --per-case are the same"),
    (["-m", "nsd"], "needs a tolerance"),
    (["-o", "r.txt"], "unknown report format '.txt'"),
])
def test_command_line_errors_exit_2_with_one_line(tmp_path, capsys, monkeypatch, extra,
                                                  fragment):
    """Errors in the command line alone exit 2 (cli's docstring, docs/cli.md), before any
    file is read or written, with one line on stderr."""
    pred, ref, _ = dataset(tmp_path, n=1)
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(["score", pred, ref, "-n", C, *extra], capsys)
    assert code == 2
    assert out == ""
    assert_one_line_error(err, fragment)
    assert not (tmp_path / "r.csv").exists()


def test_metric_options_with_their_metric_are_used(tmp_path, capsys):
    pred, ref, pairs = dataset(tmp_path, n=1)
    out = tmp_path / "cases.csv"
    code, stdout, err = run_main(["score", pred, ref, "-n", C, "-m", "TVERSKY", "-m", "dice",
                                  "--tversky-alpha", 0.5, "--tversky-beta", 0.5,
                                  "--per-case", out], capsys)
    assert code == 0, err
    for row in read_csv(out):  # Tversky(0.5, 0.5) is Dice
        assert float(row["tversky"]) == pytest.approx(float(row["dice"]), rel=1e-12)


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_reports_get_ordinary_file_modes(tmp_path, capsys):
    pred, ref, _ = dataset(tmp_path, n=1)
    old_report = tmp_path / "report.json"
    old_report.write_text("previous\n")
    os.chmod(old_report, 0o664)
    old_umask = os.umask(0o022)
    try:
        code, out, err = run_main(["score", pred, ref, "-n", C, "-o", old_report,
                                   "--per-case", tmp_path / "cases.csv"], capsys)
    finally:
        os.umask(old_umask)
    assert code == 0, err
    assert os.stat(old_report).st_mode & 0o777 == 0o664          # kept, not 0o600
    assert os.stat(tmp_path / "cases.csv").st_mode & 0o777 == 0o644  # 0o666 & ~umask


def test_zero_size_and_wrong_ndim_masks_name_the_files(tmp_path, capsys):
    pytest.importorskip("scipy")
    empty = write_mask(tmp_path / "p" / "a.npy", np.zeros((0, 4), np.uint8))
    write_mask(tmp_path / "r" / "a.npy", np.zeros((3, 4), np.uint8))
    code, out, err = run_main(["score", tmp_path / "p", tmp_path / "r", "-n", 2], capsys)
    assert code == 1
    assert_one_line_error(err, empty, "empty mask of shape (0, 4)")
    pred = write_mask(tmp_path / "p" / "a.npy", np.zeros(5, np.uint8))
    ref = write_mask(tmp_path / "r" / "a.npy", np.zeros(5, np.uint8))
    code, out, err = run_main(["score", tmp_path / "p", tmp_path / "r", "-n", 2,
                               "-m", "dice,hd"], capsys)
    assert code == 1
    assert_one_line_error(err, pred, ref, "(5,)", "2-D or 3-D")


def test_header_with_no_background(tmp_path, capsys):
    pred, ref, _ = dataset(tmp_path, n=2)
    code, out, err = run_main(["score", pred, ref, "-n", C, "--no-background", "-q"], capsys)
    assert code == 0, err
    assert out.splitlines()[0] == "2 cases, 4 classes, 3 reported"


def test_json_report_with_infinite_option_and_values(tmp_path, capsys):
    """``--empty-distance inf`` (an option value) and infinite distances (values) both go
    into strict JSON as "inf"; NaN as "nan"; null only for "not applicable"."""
    pytest.importorskip("scipy")
    write_mask(tmp_path / "p" / "a.npy", np.array([[0, 1], [1, 0]], np.uint8))
    write_mask(tmp_path / "r" / "a.npy", np.zeros((2, 2), np.uint8))
    out = tmp_path / "r.json"
    code, stdout, err = run_main(["score", tmp_path / "p", tmp_path / "r", "-n", 3,
                                  "-m", "dice,hd", "--empty-distance", "inf", "-o", out,
                                  "-q"], capsys)
    assert code == 0, err
    data = json.loads(out.read_text())
    assert data["options"]["empty_distance"] == "inf"
    assert data["options"]["zero_division"] == "nan"
    assert data["cases"][0]["hd"] == [1.0, "inf", "nan"]
    assert data["summary"]["hd"]["classes"]["1"]["pooled"] is None
    assert data["summary"]["dice"]["classes"]["2"] == {
        "class_id": 2, "mean": "nan", "std": "nan", "pooled": "nan", "cases": 0}


# --------------------------------------------------------------------------- version


def test_version(capsys):
    from regionloss import __version__

    code, out, err = run_main(["--version"], capsys)
    assert code == 0 and out == f"regionloss {__version__}\n" and err == ""
    proc = _console(["--version"])
    assert proc.returncode == 0 and proc.stdout == f"regionloss {__version__}\n"


# --------------------------------------------------------------------------- messages name flags


@pytest.mark.parametrize("extra,code_want,message", [
    (["-n", 3, "--class-names", "a,b,c,d"], 2, "--class-names: expected 3 names, got 4"),
    (["-n", 3, "--no-background", "--class-names", "a"], 2,
     "--class-names: expected 3 names (or 2 without background), got 1"),
    (["-n", 1, "--no-background"], 2, "--no-background needs --num-classes >= 2"),
    (["-n", C, "--spacing", "-1", "-m", "hd"], 2,
     "--spacing must be a finite number > 0; got -1.0"),
    (["-n", C, "--empty-distance", "-1", "-m", "hd"], 2,
     "--empty-distance must be a number >= 0; got -1.0"),
    (["-n", 3, "-m", "nsd", "--tolerance", "1,2"], 2,
     "--tolerance: give one value or one per class (3), got 2"),
    (["-n", C, "-m", "nsd"], 2, "needs a tolerance: pass --tolerance"),
    (["-n", C, "-m", "tversky", "--tversky-alpha", "-1"], 2,
     "--tversky-alpha must be a finite number >= 0; got -1.0"),
    (["-n", C, "-m", "fbeta", "--fbeta-beta", "0"], 2,
     "--fbeta-beta: beta must be > 0 for fbeta"),
    (["-n", C, "--workers", 2, "--scheduler", "tcp://127.0.0.1:1"], 2,
     "give either --workers (local processes) or --scheduler (Dask), not both"),
    (["-n", C, "-m", "dice,nope"], 2, "--metrics: unknown metric(s) nope; choose from dice"),
    (["-n", 2], 1, "outside [0, 2) where the reference is scored: raise --num-classes to at "
                    "least 4"),
])
def test_messages_name_the_flag(tmp_path, capsys, extra, code_want, message):
    pred, ref, _ = dataset(tmp_path, n=2)
    code, out, err = run_main(["score", pred, ref, *extra], capsys)
    assert code == code_want
    assert_one_line_error(err, message)
    for param in ("num_classes", "class_names", "include_background", "empty_distance",
                  "ignore_index", "metric_options", "zero_division"):
        assert param not in err


def test_data_errors_name_the_flag(tmp_path, capsys):
    pytest.importorskip("scipy")
    write_mask(tmp_path / "p" / "a.npy", np.zeros((4, 5, 3), np.uint8))
    ref = write_mask(tmp_path / "r" / "a.npy", np.zeros((4, 5, 3), np.uint8))
    code, out, err = run_main(["score", tmp_path / "p", tmp_path / "r", "-n", 2, "-m", "hd",
                               "--spacing", "1,1"], capsys)
    assert code == 1
    assert_one_line_error(err, f"--spacing (1.0, 1.0) has 2 values but {ref} is 3-D")
    write_mask(tmp_path / "p" / "a.npy", np.zeros(6, np.uint8))
    write_mask(tmp_path / "r" / "a.npy", np.zeros(6, np.uint8))
    code, out, err = run_main(["score", tmp_path / "p", tmp_path / "r", "-n", 2, "-m", "hd"],
                              capsys)
    assert code == 1
    assert_one_line_error(err, "leave the boundary metrics out of --metrics")


def test_huge_float_label_is_reported_with_its_value(tmp_path):
    """A float label map holding 1e20 names 1e+20, not the int64 it would wrap to, and
    prints no NumPy warning: one line on stderr."""
    pred, ref, _ = dataset(tmp_path, n=1)
    array = np.zeros((16, 18))
    array[3, 4] = 1e20
    bad = write_mask(os.path.join(ref, "sub0", "case0.npy"), array)
    proc = _console(["score", pred, ref, "-n", C])
    assert proc.returncode == 1
    assert_one_line_error(proc.stderr, bad, "label 1e+20 at index (3, 4)")
    assert "-9223372036854775808" not in proc.stderr and "Warning" not in proc.stderr


def test_metric_aliases(tmp_path, capsys):
    pred, ref, pairs = dataset(tmp_path, n=2)
    out = tmp_path / "cases.csv"
    code, stdout, err = run_main(["score", pred, ref, "-n", C, "-m", "Jaccard,F1",
                                  "-m", "sensitivity", "--per-case", out, "-q"], capsys)
    assert code == 0, err
    rows = read_csv(out)
    assert list(rows[0])[3:6] == ["iou", "dice", "recall"]
    for row in rows:
        m = confusion_matrix(*pairs[row["case"]], num_classes=C)
        c = int(row["class_id"])
        assert float(row["iou"]) == float(score_confusion(m, metric="iou")[c])


# --------------------------------------------------------------------------- several reports


def test_html_and_json_reports_of_one_run(tmp_path, capsys):
    from html.parser import HTMLParser

    pred, ref, _ = dataset(tmp_path, n=4)
    html_path, json_path, cases = tmp_path / "r.html", tmp_path / "r.json", tmp_path / "c.csv"
    code, out, err = run_main(["score", pred, ref, "-n", C, "-o", html_path, "-o", json_path,
                               "--per-case", cases], capsys)
    assert code == 0, err
    assert err.splitlines()[-3:] == [f"wrote {html_path}", f"wrote {json_path}",
                                     f"wrote {cases}"]
    data = json.loads(json_path.read_text())
    values = []

    class Cells(HTMLParser):
        metric = None

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag == "table" and attrs.get("class") == "summary":
                Cells.metric = attrs["data-metric"]
            if tag == "td" and Cells.metric and attrs.get("data-value"):
                values.append((Cells.metric, float(attrs["data-value"])))

        def handle_endtag(self, tag):
            if tag == "table":
                Cells.metric = None

    Cells().feed(html_path.read_text())
    dice = data["summary"]["dice"]["classes"]
    want = []
    for name in ("0", "1", "2", "3"):
        want += [float(dice[name][k]) for k in ("mean", "std", "pooled", "cases")]
    assert [v for m, v in values if m == "dice"][:16] == pytest.approx(want, rel=0, abs=0)


def test_two_reports_naming_one_file(tmp_path, capsys, monkeypatch):
    pred, ref, _ = dataset(tmp_path, n=1)
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(["score", pred, ref, "-n", C, "-o", "r.html", "-o",
                               "./r.html"], capsys)
    assert code == 2
    assert_one_line_error(err, "--output and --output are the same file")


# --------------------------------------------------------------------------- all or nothing


def test_a_report_that_cannot_be_replaced_leaves_every_report_as_it_was(tmp_path, capsys,
                                                                       monkeypatch):
    """--per-case turns into a folder while the run scores (checked writable before): the
    commit fails, and the previous --output files stay byte for byte."""
    import regionloss.scoring.run as run_module

    pred, ref, _ = dataset(tmp_path, n=3)
    report, summary = tmp_path / "report.html", tmp_path / "report.csv"
    old_report, old_summary = b"<html>old \xe2\x9c\x93</html>\n", b"metric,class\r\nold\r\n"
    report.write_bytes(old_report)
    summary.write_bytes(old_summary)
    per_case = tmp_path / "cases.csv"
    real = run_module.run_scoring

    def scoring_then_a_folder_appears(*args, **kwargs):
        result = real(*args, **kwargs)
        (per_case / "held open").mkdir(parents=True)
        return result

    monkeypatch.setattr(run_module, "run_scoring", scoring_then_a_folder_appears)
    code, out, err = run_main(["score", pred, ref, "-n", C, "-o", report, "-o", summary,
                               "--per-case", per_case], capsys)
    assert code == 1 and out == ""
    assert_one_line_error(err, str(per_case))
    assert report.read_bytes() == old_report and summary.read_bytes() == old_summary
    assert sorted(os.listdir(tmp_path)) == ["cases.csv", "pred", "ref", "report.csv",
                                            "report.html"]
    # a folder there from the start is refused before any scoring
    monkeypatch.setattr(run_module, "run_scoring", real)
    code, out, err = run_main(["score", pred, ref, "-n", C, "-o", report,
                               "--per-case", per_case], capsys)
    assert code == 1
    assert_one_line_error(err, f"--per-case {per_case} is a folder")
    assert report.read_bytes() == old_report


# --------------------------------------------------------------------------- Ctrl-C


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "mkfifo") or not hasattr(os, "killpg"),
                    reason="needs POSIX signals and named pipes")
@pytest.mark.parametrize("to", ["process group", "parent"])
def test_ctrl_c_with_workers_exits_130_quietly(tmp_path, to):
    """A run with --workers 2 blocks on a reference that is a named pipe (a read that
    never ends); SIGINT, as a terminal's Ctrl-C sends it to the whole process group or to
    the parent alone, ends it with status 130, one line, no worker traceback, and nothing
    written."""
    import signal
    import time

    pred, ref, _ = dataset(tmp_path, n=6)
    write_mask(os.path.join(pred, "zz.npy"), np.zeros((16, 18), np.uint8))
    fifo = os.path.join(ref, "zz.npy")
    os.mkfifo(fifo)
    report = tmp_path / "report.csv"
    report.write_text("previous\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "regionloss", "score", pred, ref, "-n", str(C),
         "--workers", "2", "-o", str(report)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    writer = None
    try:
        deadline = time.monotonic() + 60
        while writer is None and time.monotonic() < deadline:  # a worker is reading the pipe
            try:
                writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                if proc.poll() is not None:
                    break
                time.sleep(0.02)
        assert writer is not None, proc.communicate(timeout=10)
        if to == "parent":
            os.kill(proc.pid, signal.SIGINT)
        else:
            os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
        if writer is not None:
            os.close(writer)
    assert proc.returncode == 130, err
    assert out == ""
    assert err == "regionloss score: error: interrupted; no report written\n"
    assert report.read_text() == "previous\n"


# --------------------------------------------------------------------------- docs


ROOT = os.path.dirname(EXAMPLES)


def _score_parser():
    import argparse

    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return parser, sub.choices["score"]


def test_docs_name_every_flag():
    with open(os.path.join(ROOT, "docs", "cli.md"), encoding="utf-8") as f:
        docs = f.read()
    parser, score_parser = _score_parser()
    flags = [s for p in (parser, score_parser) for a in p._actions for s in a.option_strings]
    assert "--version" in flags and "--per-case" in flags
    missing = [flag for flag in flags if f"`{flag}" not in docs and f", {flag}" not in docs]
    assert missing == []
    for code in ("| 0 |", "| 1 |", "| 2 |", "| 130 |"):
        assert code in docs
    assert "images/report.png" in docs and os.path.isfile(
        os.path.join(ROOT, "docs", "images", "report.png"))


def _readme_command():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    section = readme[readme.index("### 3. NumPy-only offline scoring"):]
    block = section[section.index("regionloss score"):]
    return " ".join(block[:block.index("```")].replace("\\\n", " ").split())


def test_readme_example_reports_are_ignored_by_git(tmp_path):
    """The README's command writes its reports where it runs (the repository's root), the
    same command as docs/cli.md's sample run, and git ignores what it writes."""
    command = _readme_command()
    with open(os.path.join(ROOT, "docs", "cli.md"), encoding="utf-8") as f:
        docs = " ".join(f.read().replace("\\\n", " ").split())
    assert command in docs
    args = command.split()
    written = [args[i + 1] for i, a in enumerate(args) if a in ("--output", "-o", "--per-case")]
    assert written == ["report.html", "cases.csv"]
    git = shutil.which("git")
    if git is None or not os.path.exists(os.path.join(ROOT, ".git")):
        pytest.skip("not a git checkout")
    proc = subprocess.run([git, "-C", ROOT, "check-ignore", "--no-index", *written],
                          capture_output=True, text=True)
    assert proc.stdout.split() == written, proc.stderr


def test_readme_example_runs(tmp_path, monkeypatch, capsys):
    pytest.importorskip("PIL")
    args = _readme_command().split()[1:]
    monkeypatch.chdir(ROOT)
    args = [os.path.join(ROOT, a) if a.startswith("examples/") else a for a in args]
    monkeypatch.chdir(tmp_path)  # (the reports land here, not in the checkout)
    code, out, err = run_main(args, capsys)
    assert code == 0, err
    assert out.startswith("8 cases, 4 classes")
    assert sorted(os.listdir(tmp_path)) == ["cases.csv", "report.html"]
