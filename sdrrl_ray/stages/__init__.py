"""One Ray Data step per module, each declaring its columns (``COLUMNS``, a
:class:`sdrrl_ray.schema.StageColumns`): a callable class for an actor pool (``__init__`` loads,
``__call__(batch) -> batch``) or a pure batch function. :mod:`sdrrl_ray.transfer.plan` wires them."""
