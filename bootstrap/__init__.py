"""The bootstrap project: one-time set-up, per AWS account, of what the repository's GitHub workflows
need (``__main__.py``); the CI roles' policies are built by the pure functions of its modules."""
