"""Local HTTP emulators of external APIs for integration tests."""
