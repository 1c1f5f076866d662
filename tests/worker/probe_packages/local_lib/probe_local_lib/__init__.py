"""A package the probe Worker installs from a local folder."""

GREETING = "hello from a local path dependency"
