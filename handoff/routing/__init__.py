"""Routing engine: match each escalated conversation to the best qualified agent."""
