"""Diagnostics: the course's "process of training" turned into checks, guards, statistics and verdicts.

Before a run (`pipeline diagnose`, `train.preflight: true`): initial loss, regularization, overfitting a
tiny subset, gradient flow, recipe lint. During it: the loss-explosion guard and activation/gradient
statistics (registered callbacks). After it: the bias/variance verdict and curve readings, as MLflow
tags and a text report (`pipeline report RUN_ID`). Modules holding Keras classes end in `_keras`.
"""
