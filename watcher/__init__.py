"""docwatch's watcher: discovery, claims, manifests, storage, the daemon, CLI and health."""
