"""Built-in embench plugins, installed as ``embench_plugins`` and registered through the
``embench`` entry-point group exactly like third-party plugins."""
