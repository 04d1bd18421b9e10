"""numpy's override of a kernel that is not declared: WRONG, the name is misspelled (``scaled``)."""

from corenn.kernels import override


@override("corenn_test_undeclared_override.layer:scald")
def scaled_fast(X, factor):
    return X * factor
