"""The entry point of a submission's process: ``python -m scratchnet.check.worker JOB_DIR`` runs
:func:`scratchnet.check.child.main` (a module of its own, so that the package, which imports
``child``, never imports the module it runs as ``__main__``)."""

import sys

from .child import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
