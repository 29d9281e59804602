"""The ops a student can check, one module per family: each module's ``SPECS`` are its
:class:`~scratchnet.check.spec.OpSpec` records (cases, expected results, mistakes);
:data:`scratchnet.check.ops.OPS` gathers them."""
