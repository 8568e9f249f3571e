"""The typed config nodes of the four option groups, importable without torch.

Each module declares its group's options: name -> (schema dataclass, implementation module).
Composing a config (``--help``, ``--cfg job``, shell completion) needs only these; the module
that implements an option is imported when a run first builds it (``Registry.get``).
"""

from wgan_cli.schema import critic, data, loss, model, task  # noqa: F401  (declares the options)
