raise RuntimeError("corenn-test-broken-import fails at import")
