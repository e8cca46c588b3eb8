"""The commands of the ``embench`` command line, one module per group.

:mod:`embench.commands.core` holds the core's own commands (``run``, ``plugins``, ``data``);
:mod:`embench.commands.builtin` registers the others through the ``register_commands`` hook, as
a plugin of the ``embench`` entry-point group, exactly like a third-party package would.
"""
