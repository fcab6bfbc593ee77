"""`rnnrs.optim`: optimizers (SGD, Adam, AdamW, RMSprop, Adagrad) updating
NumPy arrays in place with PyTorch's rules, and learning-rate schedules."""

from rnnrs.optim import schedulers as lr_scheduler
from rnnrs.optim.optimizers import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop
from rnnrs.optim.schedulers import CosineAnnealingLR, ExponentialLR, LambdaLR, LRScheduler, StepLR

__all__ = [
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "Adagrad",
    "lr_scheduler",
    "LRScheduler",
    "StepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "LambdaLR",
]
