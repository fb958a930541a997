"Start-up stays cheap: the command line's module and a hash method's run import no model, no scipy and no OpenCV."
import subprocess, sys
from pathlib import Path
import fastdupe

SAMPLE = Path(fastdupe.__file__).parent/'data'/'sample'
HEAVY = ('torch', 'scipy', 'cv2', 'sklearn', 'pandas', 'onnxruntime', 'fastai', 'timm')

def _loaded(code:str) -> list[str]:
    "The heavy top-level modules that `code`, run in a fresh interpreter, leaves in sys.modules."
    r = subprocess.run([sys.executable, '-c', f"{code}\nimport sys; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()

def test_cli_import_is_light():
    assert _loaded('import fastdupe.cli') == []

def test_help_is_light():
    code = ("import contextlib, io, fastdupe.cli as c\n"
            "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()): c.main(['find', '--help'])")
    assert _loaded(code) == []

def test_phash_run_needs_no_scipy(tmp_path):
    "imagehash's phash would import scipy.fftpack; fastdupe's DCT is numpy's, so a phash run loads none of them."
    code = ("import fastdupe.pipeline as p\n"
            f"r = p.find_duplicates({str(SAMPLE)!r}, method='phash', progress=False)\n"
            "assert r.groups, 'the sample has planted copies'")
    assert _loaded(code) == []

def test_default_run_needs_no_torch():
    """The default method on a CPU runs its model in ONNX Runtime and searches in numpy: PyTorch (1.3 s) is never
    imported, nor scipy (0.3 s: the keypoint transform's binomial tail is numpy's), scikit-learn or pandas."""
    from fastdupe.engine import onnx_path, _may_have_cuda
    if _may_have_cuda(): return  # with an NVIDIA device, 'auto' asks PyTorch whether CUDA works
    onnx_path()  # the one-time export (which needs PyTorch) happens here, not in the run measured
    code = ("import fastdupe.pipeline as p\n"
            f"r = p.find_duplicates({str(SAMPLE)!r}, progress=False)\n"
            "assert r.groups, 'the sample has planted copies'")
    assert set(_loaded(code)) <= {'cv2', 'onnxruntime'}
