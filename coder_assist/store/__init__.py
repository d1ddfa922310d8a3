"""The store: the SQLite project database (the source of truth, migrations, audit ledger), its
configuration, and the derived vector index with its embedders."""
