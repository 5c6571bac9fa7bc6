"""Proactive service: tell customers about their orders before they ask.

Order events arrive signed (`signature`), are parsed (`events`) and recorded once per event id (`store`);
the configured triggers (`triggers`, handoff/proactive.yml) decide what is worth a message, the rules
(`rules`) decide when and in which words, and one scheduler per cluster (`scheduler`) sends them.
"""
