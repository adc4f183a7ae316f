"""The Pulumi program's parts; ``__main__.py`` reads the config once and wires the components together.

- The stack's configuration: ``stack_keys.py`` (the table of keys: kinds, defaults, bounds, meanings;
  it renders the docs' tables), ``config.py`` (``BackupConfig``, ``parse_config``, ``load_config``),
  ``stack_values.py`` and ``stack_rules.py`` (reading and checking each key).
- Names: ``names.py``, the logical names and the physical names the program sets (the bootstrap scopes
  the CI roles with it).
- Components, resources only: ``backup_role.py``, ``storage.py``, ``backup_function.py``, ``alerts.py``,
  ``dashboard.py``, ``import_role.py``.
- Pure builders, testable without Pulumi: ``policies/`` (every policy document and the bucket rules),
  ``dashboard_body.py``, ``function_package.py`` (the function's code, SDK layer and environment),
  ``metrics.py``; ``documents.py`` turns a builder's document into the JSON a resource takes.
- The function's SDK layer, built before any resource is declared: ``sdk_layer.py`` (the build and its
  cache under ``build/``), ``sdk_lock.py`` (``requirements/lambda.txt`` as python3.13 on arm64 reads
  it), ``sdk_layer_files.py`` (the checks, and the deterministic zip).
"""
