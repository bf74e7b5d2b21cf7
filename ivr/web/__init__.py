"""HTTP and websocket routes of the IVR app."""
