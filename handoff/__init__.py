"""Handoff service: channels, conversation hub and routing to human agents."""
