"""Twilio front end: webhooks' signatures, TwiML, stream tokens, the Media Streams protocol."""
