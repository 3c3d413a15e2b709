"""The hostile-input suite: every entry point over mutated images, under limits.

``bases`` finds the bundled images and where their fields lie, ``mutate`` derives a
reproducible mutation from (seed, index), ``harness`` runs the entry points on the
results in subprocesses under a memory limit and a hang guard and says what went
wrong, ``reproduce`` writes one mutated image back for a failure's seed and index.
"""
