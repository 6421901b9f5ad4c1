"""Early warning: alert rules, alerts, the live event stream, CAP and webhooks."""
