"""Custom actions for the assistant (rasa-sdk). Nothing heavy happens at import time."""
