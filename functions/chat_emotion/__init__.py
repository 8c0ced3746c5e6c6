"""Emotion classification for chat messages: the logic behind the Cloud Function in ../main.py.

Modules: `artifact` (the model artifact contract, stdlib only), `runtime` (ONNX inference),
`store` (model store on a folder or gs://), `handler` (the Firestore event -> status + emotion).
Nothing here is imported eagerly, so `import chat_emotion` stays cheap for deploy discovery.
"""
