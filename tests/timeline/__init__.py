"""Tests of the kernel over time: timelines, moments, history and blame."""
