"""Rasa-side code (runs in the Python 3.10 virtualenv): input channel, NLU components, launcher."""
