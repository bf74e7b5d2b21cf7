"""`ivr serve`: run the server a Twilio number points at."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        host: str = typer.Option(None, help="interface to bind (default from IVR_HOST)"),
        port: int = typer.Option(None, help="port (default from IVR_PORT)"),
    ) -> None:
        """Run the IVR server (Twilio webhooks and media streams)."""
        import uvicorn

        from ivr.app import create_app
        from ivr.settings import get_settings

        settings = get_settings()
        uvicorn.run(
            create_app(settings),
            host=host or settings.host,
            port=port or settings.port,
            log_level="info",
            # the adapter itself counts and drops oversized messages; the transport only stops
            # absurd ones so a single bad frame never ends a call
            ws_max_size=max(16 * 1024 * 1024, settings.max_media_message_bytes * 4),
        )
