"""Reporting: results files written atomically, console tables."""
