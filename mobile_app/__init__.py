"""Emotion chat: a Kivy app that shows the emotion a cloud model reads in each message.

Modules without Kivy (messages, store, auth, firestore_rest, sync, config) hold the logic; app,
widgets and screens.kv the interface; driver runs scripted conversations; __main__ is the CLI.
"""

import os

# The device labels one message at a time (mobile_app/ondevice.py). numpy's BLAS would start a thread
# per core for each matrix product of the numpy engine; at this size they only wait on each other and
# on the UI thread (the default model: 3.5 ms a message at one thread here, 2.4x slower at two). It
# must be set before numpy is first imported; a value the user set wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
