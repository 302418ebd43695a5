"""The support tests' fixtures (``issued``, ``records``) and builders (``holder_card``, ``make_trip``) live in
tests/fixtures/support.py, registered for every test in tests/conftest.py; import builders from there."""
