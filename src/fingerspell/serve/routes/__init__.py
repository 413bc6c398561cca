"""The server's routes, one router per part: the API (page, health, model, predict), Teach mode's
profiles, and the camera stream. Each reads the server's state through ``state.server_state``."""
