"""User studies: does showing the pixels help people? (store, design, service, report)."""
