"""Built-in recxbench methods: one module per method (or family), each registering itself with
``@bench.methods.register``.

Nothing is imported here: the registry (``bench.methods``) indexes this package through the entry
point ``builtin = "methods"`` by reading each module's ``@register`` decorator, and imports a module
only when one of its methods is used. Adding a method means adding one file; the registry and the
contract suite pick it up automatically.
"""
