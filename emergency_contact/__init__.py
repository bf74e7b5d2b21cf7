"""Emergency contacts, escalation policy and workflow, notifiers and the agent hand-off package.

May import `speech`, `dialects`, `accessibility` and the store (`carestore`), never `ivr`.

- `contacts.ContactBook`: ordered contacts per customer with consent; every change audited.
- `policy.Policy`: the policy file (`policy.toml`): triggers and severities -> actions, SLAs.
- `service.EscalationService`: triggers (`on_transfer`, `on_assessment`, `trigger`), the agent
  queue (`accept_agent`, `queue`, `stats`), contacts' answers (`accept_contact`, `confirm`),
  deadlines (`process_due`), the hand-off package and its expiring links.
- `worker.OutboxWorker` with a `notifier.TwilioNotifier` or `notifier.ConsoleNotifier`.
"""
