# Batch behaviour of the CLI: walks, lists, shards, resume, signals.
clconv_py_test(test_batch test_batch.py)
