"""The model zoo: every architecture the course builds, written as a block class plus a builder."""
