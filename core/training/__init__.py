"""Fine-tuning a model on the project's labels, and the loop around it.

Owns the training configuration, examples and model versions
(:mod:`~core.training.trainer`), running a training job in a child process
so the window stays responsive (:mod:`~core.training.worker`), and the
train-then-re-mine loop (:mod:`~core.training.loop`). It sits above mining
(proposed negatives become training data) and retrieval.
"""
