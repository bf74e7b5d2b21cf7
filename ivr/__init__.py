"""The application: FastAPI app, Twilio webhooks and media streams, call sessions, dialog,
store access, web pages and the CLI."""
