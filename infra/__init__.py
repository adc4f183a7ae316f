"""The Pulumi program's components: validated stack config, storage, the snapshot function, alerts.

``__main__.py`` (the program) reads the config once and wires these together; every policy document is
built by a pure function here so that tests can reach it without Pulumi.
"""
