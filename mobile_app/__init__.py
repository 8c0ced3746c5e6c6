"""Emotion chat: a Kivy app that shows the emotion a cloud model reads in each message.

Modules without Kivy (messages, store, auth, firestore_rest, sync, config) hold the logic; app,
widgets and screens.kv the interface; driver runs scripted conversations; __main__ is the CLI.
"""
