"""Emotion classification for chat messages: the logic behind the Cloud Function in ../main.py.

Modules: `artifact` (the model artifact contract, stdlib only), `runtime` (ONNX inference),
`store` (model store on a folder or gs://), `repository` (the function's Firestore writes),
`handler` (one Firestore event -> status + emotion), `errors` (the error codes),
`recovery` (finish messages whose run died),
`emulator_adapter` (local trigger delivery from the Firestore emulator). See docs/FUNCTION.md.
Nothing is imported eagerly, so `import chat_emotion` stays cheap for deploy discovery.
"""
