"""Calls the service places itself (issue 8): weekly check-ins, reminders of a payment due or
a product maturing, and satisfaction call-backs after a resolved ticket or escalation.

- `hours`: quiet hours and the customer's preferred window (local time), `next_allowed`.
- `config`: the deployment's rules, from `ivr.settings.Settings`.
- `plans`: what customers agreed to, with consent (audited); their calling preferences.
- `scheduler`: scheduling one call, generating calls from plans and records, claiming due calls
  with row locks and dialling them through the escalation outbox.
- `results`: Twilio's answer (answering-machine detection) and status webhooks, the end of the
  call's dialog (outcome, survey answers, a promised SMS), reconciliation with the outbox.
- `context`: what the call session needs to run the outbound flow (`ivr/flows/outbound.yaml`).
- `service`: `OutboundService`, the one object the app, CLI and routes hold; its scheduler loop.
"""
