"""The cells of the problem-set notebooks, one module each (``CELLS``: ``(kind, source)`` pairs, and
for a code cell that shows figures ``(kind, source, figures)``, ``figures`` saying what each one
is: the site's alt text); ``notebooks/build.py`` writes them out. ``SETUP`` is the first code cell of every notebook that uses the library (ps1 stands alone)."""

NEEDS = r"""

**Running it.** It needs scratchnet (with NumPy, SciPy, matplotlib, tqdm, pooch and
threadpoolctl, which pip brings along). In a checkout, `pip install -e ".[notebook]"` and open it;
elsewhere the first cell installs scratchnet when it is missing: on **Colab**, upload this
notebook (*File → Upload notebook*) and the `scratchnet-*.whl` wheel offered on its page of the
documentation site, then run the cells in order (or set `SCRATCHNET_SOURCE` to a git URL or a path
of scratchnet first). The datasets are found or downloaded as the command line does."""

SETUP = '''\
import glob, importlib.util, os, subprocess, sys
if importlib.util.find_spec("scratchnet") is None:  # Colab or a fresh kernel: install scratchnet once, from
    source = os.environ.get("SCRATCHNET_SOURCE") or (glob.glob("scratchnet-*.whl") + [".."])[0]  # a git URL or path, a wheel here, the checkout
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", source])
from scratchnet.notebook import *  # noqa: F403  np, sn, zoo, train_run, TrainConfig, FAST, OUT, numeric_gradient, compare, ...
np.set_printoptions(precision=4, suppress=True)
os.makedirs(OUT, exist_ok=True)  # the runs, beside the notebook
print("fast mode" if FAST else "full run")'''
