"""Emergency contacts, escalation policy and workflow, notifiers and the agent hand-off package."""
